"""The console's tables: columns that fit the width, rows kept in step, the cursor kept.

A :class:`Table` is given its :class:`Column`\\ s once and its rows on every read
(:meth:`Table.show`). It lays them out for the width it has: the columns that matter
most stay (``priority`` 1 always), the others go when there is no room, and a column
with ``most`` characters cuts longer cells with an ellipsis, so one long name never
pushes the rest off screen. Cells are plain text or Rich ``Text``: never markup, so a
name or an error with brackets in it is shown as it is.

Rows are matched by key: only cells that changed are touched, and the cursor stays on
the row it was on (the same execution, the same workflow) when rows come and go above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

Cell = str | Text
Row = tuple[str, Sequence[Cell]]  # its key, and a cell for each column

PADDING = 2  # a DataTable cell's padding, one each side


@dataclass(frozen=True)
class Column:
    key: str
    label: str = ""  # the key, if empty
    priority: int = 1  # 1: always shown; the highest goes first when short of room
    most: int | None = None  # characters shown at most (cut with …)
    least: int = 4  # what it may be cut down to when even priority 1 does not fit

    @property
    def heading(self) -> str:
        return self.label or self.key


class Table(DataTable[Any]):
    """A DataTable laid out for its width from prioritised columns (see the module)."""

    def __init__(self, columns: Sequence[Column] = (), **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
        self.columns_wanted = list(columns)
        self._rows: list[tuple[str, list[Text]]] | None = None
        self._shown: list[tuple[int, int | None]] = []  # the columns shown, and their widths
        self.top_on_next_show = False  # `g`: the first row of the next read, not the kept one
        self.marked: set[str] = set()  # rows marked (space) for an action on all of them

    def show(self, rows: Sequence[Row]) -> None:
        """Show these rows (in this order), touching only what changed."""
        self._rows = [(key, [_text(cell) for cell in cells]) for key, cells in rows]
        self.marked &= {key for key, _ in self._rows}  # a row gone takes its mark along
        self._lay_out()
        if self.top_on_next_show:
            self.top_on_next_show = False
            self.move_cursor(row=0, animate=False)

    def on_resize(self, event: events.Resize) -> None:
        if self._rows is not None:
            self._lay_out()

    def marks(self) -> list[str]:
        """The marked rows' keys, in the order shown (those still on the page)."""
        return [key for key, _ in self._rows or () if key in self.marked]

    def set_marks(self, keys: set[str]) -> None:
        self.marked = keys
        if self._rows is not None:
            self._lay_out()

    def _with_marks(self, key: str, cells: list[Text]) -> list[Text]:
        """A marked row's first cell starts with ● (and, while any is marked, the others
        with room for it: the columns keep their place)."""
        if not self.marked or not cells:
            return cells
        return [Text("● " if key in self.marked else "  ") + cells[0], *cells[1:]]

    def watch_virtual_size(self, old: Size, new: Size) -> None:
        # DataTable measures new rows when it is next idle but keeps the lines it drew
        # before: rows that arrive from a worker could stay cut to the headers' widths.
        if old.width != new.width:
            self.notify_style_update()  # DataTable's way to drop what it drew

    def _lay_out(self) -> None:
        assert self._rows is not None
        shown = [(key, self._with_marks(key, cells)) for key, cells in self._rows]
        width = self.size.width or self.app.size.width
        if len(self._rows) >= self.size.height:  # a scrollbar takes its share
            width -= self.styles.scrollbar_size_vertical
        chosen = fit(self.columns_wanted, shown, width)
        if chosen != self._shown:
            selected = selected_key(self)
            self.clear(columns=True)
            for i, size in chosen:
                column = self.columns_wanted[i]
                self.add_column(column.heading, key=column.key, width=size)
            self._shown = chosen
            rows = [(key, _cells(cells, chosen)) for key, cells in shown]
            for key, cells in rows:
                self.add_row(*cells, key=key)
            if selected is not None and selected in {key for key, _ in rows}:
                self.move_cursor(row=[k for k, _ in rows].index(selected), animate=False)
            return
        sync(self, [(key, _cells(cells, chosen)) for key, cells in shown])


def fit(
    columns: Sequence[Column], rows: Sequence[tuple[str, list[Text]]], width: int
) -> list[tuple[int, int | None]]:
    """Which columns to show in ``width`` (by index, in order) and the width of each.

    A width of None lets the column take its cells' width. Columns go by priority (the
    highest number first, of equals the one further right) until the rest fit; if
    priority 1 alone does not, the columns with a ``most`` are cut further, down to
    their ``least``.
    """
    widest = [
        max([cell_len(column.heading), *(cells[i].cell_len for _, cells in rows)])
        for i, column in enumerate(columns)
    ]
    natural = [min(w, c.most) if c.most else w for w, c in zip(widest, columns, strict=True)]
    keep = list(range(len(columns)))
    # The highest priority goes first; of equals, the one further right.
    for i in sorted(keep, key=lambda i: (-columns[i].priority, -i)):
        if sum(natural[k] + PADDING for k in keep) <= width or columns[i].priority == 1:
            break
        keep.remove(i)
    widths = {i: natural[i] for i in keep}
    over = sum(w + PADDING for w in widths.values()) - width
    for i in sorted(keep, key=lambda i: -natural[i]):  # the widest cut first
        if over <= 0:
            break
        cut = min(over, widths[i] - columns[i].least) if columns[i].most else 0
        if cut > 0:
            widths[i] -= cut
            over -= cut
    # A column whose cells all fit takes their width itself (no relayout as they change).
    return [(i, widths[i] if widths[i] < widest[i] else None) for i in keep]


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _cells(cells: list[Text], chosen: list[tuple[int, int | None]]) -> list[Text]:
    shown = []
    for i, size in chosen:
        cell = cells[i]
        if size is not None and cell.cell_len > size:
            cell = cell.copy()
            cell.truncate(size, overflow="ellipsis")
        shown.append(cell)
    return shown


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
    selected = selected_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected is not None and selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)


def selected_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, if any."""
    if not table.row_count:
        return None
    try:
        key: RowKey = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    except Exception:
        return None
    return key.value


def selected(table: DataTable[Any]) -> str | None:
    return selected_key(table)


def select_key(table: DataTable[Any], key: str) -> bool:
    """Put the cursor on the row with ``key``, if the table shows it."""
    try:
        row = table.get_row_index(key)
    except Exception:  # not on this page
        return False
    table.move_cursor(row=row, animate=False)
    return True
