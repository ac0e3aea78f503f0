"""``D`` in an execution: its steps as a graph, each marked by its live status.

The graph is the definition the execution ran (its version), laid out once on a thread;
the marks are re-read every second while the execution is under way. Enter on a step
goes back to the execution with that step's log shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from console import format
from console.screens.base import View
from console.services import Services, StatusView
from console.widgets import graph, graph_layout
from console.widgets.graph import GraphView, Mark
from console.widgets.key_bar import KeyBar
from console.widgets.title import Title
from engine import definition, status
from engine.errors import EngineError, NotFound
from engine.status import SYMBOLS, StepStatus

REFRESH = 1.0


def marks(
    statuses: Mapping[str, str], steps: Sequence[str], variables: Mapping[str, str]
) -> dict[str, Mark]:
    """Each step's status symbol and colour (a step not recorded yet is pending)."""
    styles: dict[str, Mark] = {}
    out: dict[str, Mark] = {}
    for step in steps:
        value = statuses.get(step, StepStatus.PENDING)
        mark = styles.get(value)
        if mark is None:
            colour = format.style(format.COLOURS.get(value, "foreground"), variables)
            mark = styles[value] = Mark(SYMBOLS.get(value, "?"), colour)
        out[step] = mark
    return out


def kinds(workflow: definition.Workflow) -> dict[str, Mark]:
    """Each step's kind, as a symbol, for a workflow's graph (nothing has run)."""
    symbols = {
        "run": "$",
        "python": "λ",
        "http": "⇄",
        "email": "@",
        "sleep": "◷",
        "log": "≡",
        "approval": "?",
    }
    return {s.id: Mark(symbols.get(s.kind, " "), graph.PLAIN.style) for s in workflow.steps}


_LAYOUTS: dict[str, graph_layout.Layout | None] = {}  # by definition digest
_LAYOUTS_KEPT = 8


async def layout_of(
    workflow: definition.Workflow, needs: Mapping[str, Sequence[str]]
) -> graph_layout.Layout | None:
    """A definition's layout, laid out on a thread once per version (this process)."""
    if workflow.digest in _LAYOUTS:
        return _LAYOUTS[workflow.digest]
    layout = await asyncio.to_thread(graph_layout.lay_out, needs)
    if len(_LAYOUTS) >= _LAYOUTS_KEPT:
        _LAYOUTS.pop(next(iter(_LAYOUTS)))
    _LAYOUTS[workflow.digest] = layout
    return layout


def needed_by(needs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    after: dict[str, list[str]] = {}
    for step, ns in needs.items():
        for n in ns:
            after.setdefault(n, []).append(step)
    return after


class GraphScreen(View):
    AUTO_FOCUS = "GraphView"
    BINDINGS = [Binding("escape,backspace,D", "back", "Back", id="graph.back")]

    def __init__(self, services: Services, execution_id: int) -> None:
        super().__init__(services)
        self.execution_id = execution_id
        self.needs: dict[str, list[str]] | None = None
        self.after: dict[str, list[str]] = {}
        self.statuses: dict[str, str] = {}
        self.finished = False

    def compose(self) -> ComposeResult:
        yield Title(
            self.services.context, Text(f"Execution {self.execution_id}: graph"), classes="title"
        )
        yield GraphView(id="graph")
        yield Static(
            "←↓↑→ hjkl move · Enter the step's log · x tree/graph", classes="hint", id="about"
        )
        yield KeyBar()

    def on_mount(self) -> None:
        self.load(self._read_graph, group="graph")
        self.every(REFRESH, self.refresh_data)

    def refresh_data(self, *, force: bool = False) -> None:
        if self.needs is None or not (self.is_current or force):
            return
        if self.finished and not force:
            return
        query = partial(self.services.queries.step_statuses, self.execution_id)
        self.load(partial(self.read, query, self._show_marks), force=force)

    async def _read_graph(self) -> None:
        try:
            view = await self.services.queries.graph(self.execution_id)
        except NotFound as exc:
            self._say(str(exc))
            return
        except EngineError as exc:
            self.failed(exc)
            return
        e, workflow = view.execution, view.definition
        if workflow is None:
            self._say(
                f"{e.workflow_name} changed since this execution ran (v{e.version}, now "
                f"v{view.workflow.version}) and only its newest version is kept: T shows "
                "the steps it ran as a timeline."
            )
            return
        needs = workflow.dependencies()
        layout = await layout_of(workflow, needs)
        if not self.is_attached:
            return
        self.needs, self.after = needs, needed_by(needs)
        self.query_one(GraphView).show(needs, layout, {})
        self._show_marks(StatusView(e, view.statuses))
        if layout is None:
            self.notify(f"{len(needs):,} steps are too many to draw as a graph: shown as a tree")

    def _say(self, text: str) -> None:
        if self.is_attached:
            self.query_one("#about", Static).update(Text(text))

    def _show_marks(self, view: StatusView) -> None:
        if self.needs is None:
            return
        e = view.execution
        self.finished = e.status in status.FINISHED
        latest = view.statuses
        self.statuses = latest
        counts: dict[str, int] = {}
        for value in (latest.get(s, StepStatus.PENDING) for s in self.needs):
            counts[value] = counts.get(value, 0) + 1
        tally = ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in sorted(counts.items()))
        v = self.app.theme_variables
        self.query_one(".title", Static).update(
            Text(f"Execution {e.id}  {e.workflow_name} v{e.version}  ")
            + format.status(e.status, v)
            + Text(f"  graph · {tally}", style="dim")
        )
        self.query_one(GraphView).mark(marks(latest, list(self.needs), v))
        self._describe()

    def _describe(self) -> None:
        view = self.query_one(GraphView)
        if view.cursor is None or self.needs is None:
            return
        value = self.statuses.get(view.cursor, StepStatus.PENDING)
        status = format.status(value, self.app.theme_variables)
        line = graph.describe(view.cursor, self.needs, self.after, status)
        self.query_one("#about", Static).update(line)

    def on_graph_view_moved(self, event: GraphView.Moved) -> None:
        self._describe()

    def on_graph_view_chosen(self, event: GraphView.Chosen) -> None:
        self.dismiss_with(event.step)

    def dismiss_with(self, step: str | None) -> None:
        screen: Screen[str | None] = self  # type: ignore[assignment]
        screen.dismiss(step)

    def copyable(self) -> tuple[str, str] | None:
        cursor = self.query_one(GraphView).cursor
        return ("step id", cursor) if cursor else ("execution id", str(self.execution_id))

    def action_back(self) -> None:
        self.dismiss_with(None)
