"""A workflow's steps as a graph in the terminal, with a cursor on one step.

The layout comes from :mod:`.graph_layout`; this widget draws it a line at a time (the
Line API: only the rows in sight are drawn, so a 2,000-step graph scrolls as fast as a
small one) and moves a cursor from step to step: ←/→ (h/l) within a layer, ↑/↓ (k/j)
to the nearest step in the layer above or below. Each box holds a mark (a step's status
in an execution, its kind in a workflow) and its id; the step under the cursor has a
double border and is drawn reversed, so it shows with NO_COLOR too. Enter posts
:class:`GraphView.Chosen`.

A graph with no layout (too big) shows as a tree instead (k9s' xray); ``x`` switches
between the two on any graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.widgets import graph_layout
from console.widgets.graph_layout import BOX_HEIGHT, LINES, Box, Layout


@dataclass(frozen=True)
class Mark:
    symbol: str  # one cell
    style: Style  # the box's colour: its status's, or none


PLAIN = Mark(" ", Style())


class GraphView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    GraphView { height: 1fr; }
    """
    BINDINGS = [
        Binding("left,h", "move(-1, 0)", "Left", show=False),
        Binding("right,l", "move(1, 0)", "Right", show=False),
        Binding("up,k", "move(0, -1)", "Up", show=False),
        Binding("down,j", "move(0, 1)", "Down", show=False),
        Binding("home,g", "edge(0)", "First step", show=False),
        Binding("end,G", "edge(1)", "Last step", show=False),
        Binding("enter", "choose", "Open step", show=False),
        Binding("x", "toggle_tree", "Tree/graph", show=False),
    ]

    class Chosen(Message):
        """Enter on a step."""

        def __init__(self, step: str) -> None:
            super().__init__()
            self.step = step

    class Moved(Message):
        """The cursor is on another step."""

        def __init__(self, step: str) -> None:
            super().__init__()
            self.step = step

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.layout_: Layout | None = None
        self.tree_rows: list[tuple[str, str, bool]] = []
        self.as_tree = False
        self.marks: Mapping[str, Mark] = {}
        self.cursor: str | None = None
        self.line_style = Style(dim=True)
        self._strips: dict[int, Strip] = {}

    # -- what it shows ------------------------------------------------------------------

    def show(
        self,
        needs: Mapping[str, Sequence[str]],
        layout: Layout | None,
        marks: Mapping[str, Mark],
    ) -> None:
        """A new graph (``layout`` None: too big, a tree only), and each step's mark."""
        first = self.layout_ is None and not self.tree_rows
        self.layout_ = layout
        self.tree_rows = graph_layout.tree(needs)
        self.as_tree = layout is None
        self.marks = marks
        if self.cursor not in needs:
            self.cursor = next(iter(needs), None)
        self._resize()
        if first:
            self.call_after_refresh(self.scroll_to_cursor)

    def mark(self, marks: Mapping[str, Mark]) -> None:
        """New marks (statuses) on the same graph."""
        if marks != self.marks:
            self.marks = marks
            self._strips.clear()
            self.refresh()

    def _resize(self) -> None:
        self._strips.clear()
        if self.as_tree or self.layout_ is None:
            width = max((len(p) + 4 + len(s) + 9 for p, s, _ in self.tree_rows), default=0)
            self.virtual_size = Size(width, len(self.tree_rows))
        else:
            self.virtual_size = Size(self.layout_.width + 1, self.layout_.height)
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    # -- drawing --------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = y + scroll_y
        strip = self._strips.get(row)
        if strip is None:
            strip = self._tree_line(row) if self.as_tree else self._graph_line(row)
            # Under every cell the widget's own background: a segment with none shows the
            # terminal's, a patch of another colour beside what Textual pads with.
            strip = strip.apply_style(Style(bgcolor=self.rich_style.bgcolor))
            if len(self._strips) > 4000:
                self._strips.clear()
            self._strips[row] = strip
        return strip.crop(scroll_x, scroll_x + self.size.width).extend_cell_length(
            self.size.width, self.rich_style
        )

    def _graph_line(self, row: int) -> Strip:
        layout = self.layout_
        if layout is None or row >= layout.height:
            return Strip.blank(self.size.width)
        base = self.rich_style
        line = self.line_style + Style(color=base.color) if base.color else self.line_style
        segments: list[Segment] = []
        at = 0
        for box in layout.in_row(row):
            if box.left > at:
                segments.append(Segment(self._lines(layout, row, at, box.left), line))
            segments.extend(self._box_row(layout, box, row - box.top))
            at = box.right
        end = layout.width + 1
        if end > at:
            segments.append(Segment(self._lines(layout, row, at, end), line))
        return Strip(segments)

    @staticmethod
    def _lines(layout: Layout, row: int, start: int, end: int) -> str:
        get = layout.lines.get
        return "".join(LINES.get(get((row, c), 0), " ") for c in range(start, end))

    def _box_row(self, layout: Layout, box: Box, part: int) -> list[Segment]:
        mark = self.marks.get(box.step, PLAIN)
        here = box.step == self.cursor and self.has_focus_within
        style = mark.style + Style(reverse=True, bold=True) if here else mark.style
        chosen = box.step == self.cursor
        if part == 1:
            wall = "║" if chosen else "│"
            name = graph_layout.cut(box.step).ljust(box.width - 6)
            return [Segment(f"{wall} {mark.symbol} {name} {wall}", style)]
        left, fill, right, port = (
            (("╔", "═", "╗", "╧") if part == 0 else ("╚", "═", "╝", "╤"))
            if chosen
            else (("┌", "─", "┐", "┴") if part == 0 else ("└", "─", "┘", "┬"))
        )
        row = box.top + part
        cells = [
            port if (row, c) in layout.entries else fill for c in range(box.left + 1, box.right - 1)
        ]
        return [Segment(left + "".join(cells) + right, style)]

    def _tree_line(self, row: int) -> Strip:
        if row >= len(self.tree_rows):
            return Strip.blank(self.size.width)
        prefix, step, shown = self.tree_rows[row]
        mark = self.marks.get(step, PLAIN)
        here = step == self.cursor and self.has_focus_within
        style = mark.style + Style(reverse=True, bold=True) if here else mark.style
        pointer = "▸ " if step == self.cursor and not shown else "  "
        segments = [
            Segment(pointer + prefix, self.line_style),
            Segment(f"{mark.symbol} {step}", style if not shown else Style(dim=True)),
        ]
        if shown:
            segments.append(Segment("  (shown above)", Style(dim=True)))
        return Strip(segments)

    # -- the cursor -----------------------------------------------------------------------

    def action_move(self, dx: int, dy: int) -> None:
        if self.cursor is None:
            return
        target = self._tree_move(dy or dx) if self.as_tree else self._graph_move(dx, dy)
        if target is not None and target != self.cursor:
            self.cursor = target
            self._strips.clear()
            self.refresh()
            self.scroll_to_cursor()
            self.post_message(self.Moved(target))

    def _graph_move(self, dx: int, dy: int) -> str | None:
        layout = self.layout_
        if layout is None or self.cursor not in layout.boxes:
            return None
        box = layout.boxes[self.cursor]
        if dx:
            layer = layout.layers[box.layer]
            i = layer.index(box.step) + dx
            return layer[i] if 0 <= i < len(layer) else None
        rank = box.layer + dy
        if not 0 <= rank < len(layout.layers) or not layout.layers[rank]:
            return None
        return min(layout.layers[rank], key=lambda s: abs(layout.boxes[s].centre - box.centre))

    def _tree_move(self, step: int) -> str | None:
        rows = [(i, s) for i, (_p, s, shown) in enumerate(self.tree_rows) if not shown]
        at = next((n for n, (_i, s) in enumerate(rows) if s == self.cursor), 0)
        n = at + step
        return rows[n][1] if 0 <= n < len(rows) else None

    def action_edge(self, end: int) -> None:
        """The first step (of the top layer) or the last (of the bottom one)."""
        if self.as_tree or self.layout_ is None:
            rows = [s for _p, s, shown in self.tree_rows if not shown]
            target = (rows[-1] if end else rows[0]) if rows else None
        else:
            layers = self.layout_.layers
            target = (layers[-1][-1] if end else layers[0][0]) if layers else None
        if target is not None and target != self.cursor:
            self.select(target)
            self.post_message(self.Moved(target))

    def select(self, step: str) -> None:
        if step != self.cursor:
            self.cursor = step
            self._strips.clear()
            self.refresh()
            self.scroll_to_cursor()

    def scroll_to_cursor(self) -> None:
        region = self.cursor_region()
        if region is not None:
            self.scroll_to_region(region, animate=False, force=True)

    def cursor_region(self) -> Region | None:
        if self.cursor is None:
            return None
        if self.as_tree or self.layout_ is None:
            row = next(
                (i for i, (_p, s, shown) in enumerate(self.tree_rows) if s == self.cursor),
                None,
            )
            return None if row is None else Region(0, row, 1, 1)
        box = self.layout_.boxes.get(self.cursor)
        return None if box is None else Region(box.left, box.top, box.width, BOX_HEIGHT)

    def action_choose(self) -> None:
        if self.cursor is not None:
            self.post_message(self.Chosen(self.cursor))

    def action_toggle_tree(self) -> None:
        if self.layout_ is None:
            self.notify("This graph is too big to draw: it shows as a tree")
            return
        self.as_tree = not self.as_tree
        self._resize()
        self.scroll_to_cursor()

    def on_focus(self) -> None:
        self._strips.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._strips.clear()
        self.refresh()


def describe(
    step: str,
    needs: Mapping[str, Sequence[str]],
    needed_by: Mapping[str, list[str]],
    status: Text | None = None,
) -> Text:
    """The line under a graph: the step under the cursor (and its status, first, so a
    line cut at the screen's edge keeps it), what it needs and what needs it."""
    line = Text(step, style="bold")
    if status is not None:
        line.append("  ")
        line.append_text(status)
    before = ", ".join(needs.get(step, ())) or "nothing"
    after = ", ".join(needed_by.get(step, [])) or "nothing"
    line.append(f"  needs: {before}  ·  needed by: {after}")
    return line
