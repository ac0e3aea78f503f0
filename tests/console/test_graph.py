"""The graph: layers by needs, box-drawing edges, live marks, a cursor that opens a log."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.app import WorkflowConsole
from console.messages import OpenExecution
from console.screens.execution_detail import ExecutionDetailScreen
from console.screens.graph import GraphScreen
from console.widgets import graph_layout
from console.widgets.graph import GraphView
from engine import store
from tests.console.support import drive, settle, wait_for
from tests.support import add, run

DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


def _picture(layout: graph_layout.Layout) -> list[str]:
    """The edges and the boxes' outlines as text (what the widget draws, without styles)."""
    grid = [[" "] * layout.width for _ in range(layout.height)]
    for (r, c), sides in layout.lines.items():
        grid[r][c] = graph_layout.LINES[sides]
    for box in layout.boxes.values():
        grid[box.top][box.left : box.right] = "┌" + "─" * (box.width - 2) + "┐"
        grid[box.top + 1][box.left : box.right] = f"│ {box.step.ljust(box.width - 4)} │"
        grid[box.top + 2][box.left : box.right] = "└" + "─" * (box.width - 2) + "┘"
    return ["".join(row).rstrip() for row in grid]


def test_a_diamond_is_three_layers_with_its_edges_drawn() -> None:
    layout = graph_layout.lay_out(DIAMOND)
    assert layout is not None
    assert [sorted(layer) for layer in layout.layers] == [["a"], ["b", "c"], ["d"]]
    boxes = layout.boxes
    assert boxes["b"].top == boxes["c"].top > boxes["a"].top
    assert boxes["b"].right + graph_layout.GAP <= boxes["c"].left  # side by side, apart
    picture = "\n".join(_picture(layout))
    # One edge leaves a and forks to b and c; b's and c's meet on the way into d.
    assert "╭────┴────╮" in picture and "╰────┬────╯" in picture


def test_boxes_never_overlap_and_every_edge_reaches_its_ends() -> None:
    needs: dict[str, list[str]] = {"root": []}
    needs.update({f"m{i}": ["root"] for i in range(20)})
    needs.update({f"x{i}": [f"m{i}", f"m{(i * 7) % 20}"] for i in range(20)})
    needs["end"] = [f"x{i}" for i in range(20)] + ["root"]  # a need that skips two layers
    layout = graph_layout.lay_out(needs)
    assert layout is not None
    cells: set[tuple[int, int]] = set()
    for box in layout.boxes.values():
        mine = {(r, c) for r in range(box.top, box.top + 3) for c in range(box.left, box.right)}
        assert not mine & cells, f"{box.step} overlaps another box"
        cells |= mine
        assert not {(r, c) for (r, c) in layout.lines} & mine, f"an edge crosses {box.step}"
    for step, ns in needs.items():
        for n in ns:  # a line leaves the bottom of every need and enters the step's top
            below, above = layout.boxes[n], layout.boxes[step]
            assert any((below.top + 3, c) in layout.lines for c in range(below.left, below.right))
            assert any((above.top - 1, c) in layout.lines for c in range(above.left, above.right))


def test_edges_of_different_steps_never_share_a_track() -> None:
    # a → d and b → c must cross: on one track their lines would run into each other, so
    # the gap between the layers has two tracks; edges that share an end share one.
    crossing = graph_layout.lay_out({"a": [], "b": [], "c": ["a", "b"], "d": ["a", "b"]})
    fork = graph_layout.lay_out({"a": [], "b": ["a"], "c": ["a"], "d": ["a"]})
    assert crossing is not None and fork is not None
    gap = crossing.boxes["c"].top - (crossing.boxes["a"].top + graph_layout.BOX_HEIGHT)
    assert gap == 2
    assert fork.boxes["b"].top - (fork.boxes["a"].top + graph_layout.BOX_HEIGHT) == 1


def test_a_graph_too_big_to_draw_is_a_tree_and_a_deep_chain_stays_readable() -> None:
    chain = {f"s{i}": ([f"s{i - 1}"] if i else []) for i in range(graph_layout.MOST_STEPS + 1)}
    assert graph_layout.lay_out(chain) is None
    rows = graph_layout.tree(chain)
    assert len(rows) == len(chain) and rows[0] == ("", "s0", False)
    assert rows[5][0].endswith("└─ ") and rows[-1][0] == f"┆ {len(chain) - 1:,} "
    assert max(len(prefix) for prefix, _s, _shown in rows) < 45


def test_a_tree_names_a_step_with_two_needs_again_marked_as_shown() -> None:
    rows = graph_layout.tree(DIAMOND)
    assert [(s, shown) for _p, s, shown in rows] == [
        ("a", False), ("b", False), ("d", False), ("c", False), ("d", True)
    ]  # fmt: skip


def test_a_200_step_chain_lays_out_in_one_column() -> None:
    chain = {f"s{i}": ([f"s{i - 1}"] if i else []) for i in range(200)}
    layout = graph_layout.lay_out(chain)
    assert layout is not None and len(layout.layers) == 200
    assert len({b.left for b in layout.boxes.values()}) <= 2


WORKFLOW = """
name: w
steps:
  - {id: fetch, log: fetching}
  - {id: build, needs: [fetch], run: "echo built"}
  - {id: lint, needs: [fetch], run: "echo linted"}
  - {id: slow, needs: [build, lint], run: "sleep 30"}
"""


def test_D_shows_the_live_graph_and_enter_opens_the_step_log(db: store.Store, make_app) -> None:
    add(db, WORKFLOW)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await pilot.press("2", "r", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, GraphScreen))
        view = app.screen.query_one(GraphView)
        await wait_for(
            pilot, lambda: view.marks.get("slow") is not None and view.marks["slow"].symbol == "▶"
        )
        assert view.marks["fetch"].symbol == "✓"
        assert view.cursor == "fetch"
        await pilot.press("j", "l")  # down to build, right to lint
        assert view.cursor in {"build", "lint"} and view.cursor != "fetch"
        chosen = view.cursor
        lines = [view.render_line(y).text for y in range(view.size.height)]
        assert any("║" in line and chosen in line for line in lines)  # the cursor's box
        for y in range(view.size.height):  # every cell on the widget's background, none on
            strip = view.render_line(y)  # the terminal's (a patch beside Textual's padding)
            assert strip.cell_length == view.size.width
            assert {s.style.bgcolor for s in strip if s.style} == {view.rich_style.bgcolor}
        assert "needed by: slow" in str(app.screen.query_one("#about").render())
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        detail = app.screen
        assert isinstance(detail, ExecutionDetailScreen)
        assert detail.step_filter == chosen
        table = detail.query_one(DataTable)
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == chosen
        await pilot.press("D")  # again: the same graph, the cursor where it was, re-read
        await wait_for(pilot, lambda: isinstance(app.screen, GraphScreen))
        assert app.screen.query_one(GraphView) is view and view.cursor == chosen
        await pilot.press("k", "enter")  # up to fetch, and its log
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        assert detail.step_filter == "fetch"
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("enter")  # yes, cancel it
        await settle(pilot)

    drive(make_app(db, clock=None), scenario, size=(80, 24))


def test_the_workflow_detail_toggles_yaml_and_graph(db: store.Store, make_app) -> None:
    add(db, WORKFLOW)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2", "enter")
        await settle(pilot)
        view = app.screen.query_one(GraphView)
        assert not view.display
        await pilot.press("D")
        await wait_for(pilot, lambda: view.layout_ is not None)
        assert view.display and not app.screen.query_one("#definition").display
        assert {m.symbol for m in view.marks.values()} == {"≡", "$"}  # the steps' kinds
        await pilot.press("x")  # as a tree
        await settle(pilot)
        assert view.as_tree
        text = "\n".join(view.render_line(y).text for y in range(6))
        assert "├─ $ build" in text and "slow" in text
        await pilot.press("D")
        await settle(pilot)
        assert app.screen.query_one("#definition").display

    drive(make_app(db, embedded=False), scenario)


SHAPES = {
    "diamond": "name: diamond\nsteps:\n  - {id: a, log: a}\n  - {id: b, needs: [a], log: b}\n"
    "  - {id: c, needs: [a], run: 'false'}\n  - {id: d, needs: [b, c], log: d}\n",
    "fanout": "name: fanout\nsteps:\n  - {id: start, log: go}\n"
    + "".join(f"  - {{id: item-{i}, needs: [start], log: x}}\n" for i in range(20))
    + "  - {id: join, needs: ["
    + ", ".join(f"item-{i}" for i in range(20))
    + "], log: y}\n",
    "chain30": "name: chain30\nsteps:\n"
    + "".join(f"  - {{id: s{i}, log: x}}\n" for i in range(30)),
    "chain200": "name: chain200\nsteps:\n"
    + "".join(f"  - {{id: s{i}, log: x}}\n" for i in range(200)),
}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, int]]:
    path = tmp_path_factory.mktemp("graphs") / "graphs.db"
    db = store.open_store(f"sqlite:///{path}")
    ids = {}
    for name, text in SHAPES.items():
        add(db, text)
        ids[name] = trio.run(run, db, name).id
    db.close()
    return {name: (str(path), i) for name, i in ids.items()}


@pytest.mark.parametrize("theme", ["wfe-dark", "wfe-light", "wfe-ansi"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_graph_snapshot(
    shape: str, size: tuple[int, int], theme: str, shapes, make_app, snap_compare
) -> None:
    path, execution_id = shapes[shape]
    db = store.open_store(f"sqlite:///{path}")
    app = make_app(db, embedded=False, theme=theme)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app.post_message(OpenExecution(execution_id))
        await settle(pilot)
        await pilot.press("D")
        await settle(pilot)
        await pilot.pause(0.3)
        await settle(pilot)
        if shape == "chain200":
            await pilot.press("G")  # the last step, scrolled to
            await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
