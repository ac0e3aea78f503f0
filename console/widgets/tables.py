"""The console's tables: kept in step with fresh rows, changed cells only, the cursor put."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey


class Table(DataTable[Any]):
    """A DataTable whose rows are drawn at their columns' measured widths.

    DataTable measures new rows when it is next idle, but keeps the lines it drew before
    that: rows that arrive from a worker (as every view's do) could stay cut to the
    headers' widths until something else redraws them. When the measured columns change
    the table's width, the lines drawn before are dropped.
    """

    def watch_virtual_size(self, old: Size, new: Size) -> None:
        if old.width != new.width:
            self.notify_style_update()  # DataTable's way to drop what it drew


def sync(table: DataTable[Any], rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Show ``rows`` (key, cells) in this order, touching only what changed."""
    keys = [key for key, _ in rows]
    current = [row.key.value for row in table.ordered_rows]
    columns = [c.key for c in table.ordered_columns]
    if keys == current:
        for key, cells in rows:
            for column, value in zip(columns, cells, strict=False):
                if table.get_cell(key, column) != value:
                    table.update_cell(key, column, value, update_width=True)
        return
    selected = _selected_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected is not None and selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)


def _selected_key(table: DataTable[Any]) -> str | None:
    if not table.row_count:
        return None
    try:
        key: RowKey = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    except Exception:
        return None
    return key.value


def selected(table: DataTable[Any]) -> str | None:
    return _selected_key(table)
