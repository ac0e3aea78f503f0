"""Keep a DataTable in step with fresh rows: changed cells only, the cursor stays put."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.widgets import DataTable
from textual.widgets.data_table import RowKey


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
