"""Where a workflow's steps go on a character grid, and how their edges run between them.

The layers and the order of the steps in each come from ``grandalf``'s Sugiyama layout
(a step's layer is the longest chain of needs above it; crossings are reduced by its
median heuristic, x positions by Brandes-Köpf). What no library draws for a terminal is
done here: the positions become columns, and each edge a path of box-drawing cells.

Between two layers the edges run in horizontal *tracks*, one text row each: an edge
goes down from the bottom of the step it leaves, along its track, and down into the top
of the step that needs it. Edges that share a start or an end share a track (they read
as one branching line); the others get a track of their own where they would overlap,
so two different edges never run on top of each other. A need that skips layers passes
through the layers between as a vertical line (grandalf's dummy vertices).

A graph too big to draw (more than :data:`MOST_STEPS` steps, or one grandalf cannot
lay out) has no layout: the view shows :func:`tree` instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from grandalf.graphs import Edge, Vertex, graph_core
from grandalf.layouts import DummyVertex, Layer, SugiyamaLayout
from grandalf.utils.poset import Poset

MOST_STEPS = 2000  # beyond it grandalf takes seconds: the tree view shows instead
NAME_MOST = 24  # a step id's room in its box; longer ones are cut with …
BOX_HEIGHT = 3
GAP = 3  # columns between two boxes side by side
MARK = 2  # a status symbol and its space, kept in every box so sizes never change

# The cells of an edge: which sides a line leaves through.
UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8
LINES = {
    UP: "│", DOWN: "│", UP | DOWN: "│", LEFT: "─", RIGHT: "─", LEFT | RIGHT: "─",
    DOWN | RIGHT: "╭", DOWN | LEFT: "╮", UP | RIGHT: "╰", UP | LEFT: "╯",
    UP | DOWN | RIGHT: "├", UP | DOWN | LEFT: "┤", DOWN | LEFT | RIGHT: "┬",
    UP | LEFT | RIGHT: "┴", UP | DOWN | LEFT | RIGHT: "┼",
}  # fmt: skip


@dataclass(frozen=True)
class Box:
    step: str
    layer: int
    top: int
    left: int
    width: int

    @property
    def centre(self) -> int:
        return self.left + self.width // 2

    @property
    def right(self) -> int:
        return self.left + self.width


@dataclass
class Layout:
    boxes: dict[str, Box]
    layers: list[list[str]]  # each layer's steps, left to right
    lines: dict[tuple[int, int], int]  # (row, column): the sides its edge leaves through
    width: int
    height: int
    entries: set[tuple[int, int]] = field(default_factory=set)  # where an edge meets a box

    def in_row(self, row: int) -> list[Box]:
        """The boxes a text row crosses, left to right."""
        return self._rows.get(row, [])

    def __post_init__(self) -> None:
        self._rows: dict[int, list[Box]] = {}
        for box in sorted(self.boxes.values(), key=lambda b: b.left):
            for row in range(box.top, box.top + BOX_HEIGHT):
                self._rows.setdefault(row, []).append(box)


def _fast_ne(self: Poset, other: object) -> bool:
    return self is not other and _poset_ne(self, other)


# Two of grandalf's quadratic steps, made fast with the same answers (a chain of 1,000
# steps: 1.1 s -> 0.1 s). It checks that a graph is connected by comparing each
# vertex's set with the graph's, and a Poset compares by building both sets: a set is
# always equal to itself. And each layer finds its rank with list.index, through an
# __eq__ of Layer's that only calls list's: list's own, in C.
_poset_ne = Poset.__ne__
Poset.__ne__ = _fast_ne
Layer.__eq__ = list.__eq__


def label_width(step: str) -> int:
    return MARK + min(len(step), NAME_MOST)


def cut(step: str) -> str:
    return step if len(step) <= NAME_MOST else step[: NAME_MOST - 1] + "…"


def lay_out(needs: Mapping[str, Sequence[str]]) -> Layout | None:
    """The layout of steps wired by their needs (in file order), or None if too big."""
    if len(needs) > MOST_STEPS:
        return None
    try:
        return _lay_out(needs)
    except RecursionError:  # a shape grandalf recurses too deep on: the tree will do
        return None


def _components(
    vertices: list[Vertex], edges: list[Edge], order: Mapping[str, int]
) -> list[graph_core]:
    """The connected parts, first step first, each a grandalf graph of its own.

    (grandalf's ``Graph`` finds them too, but in quadratic time: 0.6 s for a chain of
    1,000 steps; a union-find here is linear.)
    """
    parent = {id(v): id(v) for v in vertices}

    def root(key: int) -> int:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for e in edges:
        a, b = root(id(e.v[0])), root(id(e.v[1]))
        if a != b:
            parent[b] = a
    groups: dict[int, list[Vertex]] = {}
    for v in vertices:
        groups.setdefault(root(id(v)), []).append(v)
    inside: dict[int, list[Edge]] = {}
    for e in edges:
        inside.setdefault(root(id(e.v[0])), []).append(e)
    parts = sorted(groups.items(), key=lambda kv: min(order[v.data] for v in kv[1]))
    return [graph_core(vs, inside.get(key, [])) for key, vs in parts]


def _lay_out(needs: Mapping[str, Sequence[str]]) -> Layout:
    vertices = {step: Vertex(step) for step in needs}
    for v in vertices.values():
        v.view = _View(label_width(v.data) + 4)
    edges = [Edge(vertices[n], vertices[s]) for s, ns in needs.items() for n in ns if n in vertices]
    order = {step: i for i, step in enumerate(needs)}
    placed: list[list[tuple[object, float, int]]] = []  # layer: (vertex or dummy, x, width)
    chains: list[list[object]] = []  # each edge: the vertices it passes, top to bottom
    offset = 0.0
    for component in _components(list(vertices.values()), edges, order):
        sugiyama = SugiyamaLayout(component)
        sugiyama.xspace, sugiyama.yspace = GAP, 1
        roots = sorted((v for v in component.sV if not v.e_in()), key=lambda v: order[v.data])
        sugiyama.init_all(roots=roots, inverted_edges=[])  # a DAG (validated): no search
        sugiyama.draw(3)
        lefts = [v.view.xy[0] - v.view.w / 2 for layer in sugiyama.layers for v in layer]
        rights = [v.view.xy[0] + v.view.w / 2 for layer in sugiyama.layers for v in layer]
        shift = offset - min(lefts)
        for rank, layer in enumerate(sugiyama.layers):
            while len(placed) <= rank:
                placed.append([])
            placed[rank].extend((v, v.view.xy[0] + shift, v.view.w) for v in layer)
        for e in component.sE:
            ctrl = sugiyama.ctrls.get(e)
            chains.append([ctrl[r] for r in sorted(ctrl)] if ctrl else [e.v[0], e.v[1]])
        offset += max(rights) - min(lefts) + GAP
    return _grid(placed, chains)


class _View:
    """What grandalf needs of a vertex to place it: its size, and where it put it."""

    def __init__(self, width: int) -> None:
        self.w, self.h = width, BOX_HEIGHT
        self.xy = (0.0, 0.0)


def _grid(placed: list[list[tuple[object, float, int]]], chains: list[list[object]]) -> Layout:
    # Columns: each layer left to right, rounded, never closer than GAP.
    column: dict[int, int] = {}  # id(vertex or dummy): its centre column
    lefts: dict[int, int] = {}
    ranks: dict[int, int] = {}
    for rank, layer in enumerate(placed):
        layer.sort(key=lambda item: item[1])
        edge = -GAP
        for item, x, width in layer:
            left = max(round(x - width / 2), edge + GAP if width > 1 else edge + 1)
            lefts[id(item)] = left
            ranks[id(item)] = rank
            column[id(item)] = left + width // 2
            edge = left + width
    # Tracks between each layer and the next: greedy interval colouring.
    hops: list[list[tuple[int, int, int, int]]] = [[] for _ in placed]  # start, end, src, dst
    for chain in chains:
        for a, b in itertools.pairwise(chain):
            hops[ranks[id(a)]].append((column[id(a)], column[id(b)], id(a), id(b)))
    tracks: list[dict[tuple[int, int, int, int], int]] = []
    for gap in hops:
        taken: list[list[tuple[int, int, int, int]]] = []
        where: dict[tuple[int, int, int, int], int] = {}
        for hop in sorted(gap, key=lambda h: (min(h[0], h[1]), max(h[0], h[1]))):
            for t, track in enumerate(taken):
                if all(not _clash(hop, other) for other in track):
                    track.append(hop)
                    where[hop] = t
                    break
            else:
                taken.append([hop])
                where[hop] = len(taken) - 1
        tracks.append(where)
    # Rows: a layer's boxes, then its tracks (one at least, so boxes never touch).
    tops, row = [], 0
    for rank in range(len(placed)):
        tops.append(row)
        row += BOX_HEIGHT + max(1, len(set(tracks[rank].values())))
    height = row - max(1, len(set(tracks[-1].values()))) if placed else 0
    boxes: dict[str, Box] = {}
    layers: list[list[str]] = []
    lines: dict[tuple[int, int], int] = {}
    entries: set[tuple[int, int]] = set()

    def mark(r: int, c: int, sides: int) -> None:
        lines[(r, c)] = lines.get((r, c), 0) | sides

    width = 0
    for rank, layer in enumerate(placed):
        names = []
        for item, _x, w in layer:
            width = max(width, lefts[id(item)] + w)
            if isinstance(item, DummyVertex):  # a need passing through this layer
                for r in range(tops[rank], tops[rank] + BOX_HEIGHT):
                    mark(r, column[id(item)], UP | DOWN)
            else:
                step = item.data  # type: ignore[attr-defined]
                boxes[step] = Box(step, rank, tops[rank], lefts[id(item)], w)
                names.append(step)
        layers.append(names)
    for rank, gap_tracks in enumerate(tracks):
        below = tops[rank] + BOX_HEIGHT  # the first row under the layer
        for (start, end, _src, _dst), t in gap_tracks.items():
            lane = below + t
            for r in range(below, lane):
                mark(r, start, UP | DOWN)
            if start == end:
                mark(lane, start, UP | DOWN)
            else:
                way = 1 if end > start else -1
                mark(lane, start, UP | (RIGHT if way > 0 else LEFT))
                for c in range(start + way, end, way):
                    mark(lane, c, LEFT | RIGHT)
                mark(lane, end, DOWN | (LEFT if way > 0 else RIGHT))
            for r in range(lane + 1, tops[rank + 1]):
                mark(r, end, UP | DOWN)
            entries.add((tops[rank + 1], end))
            entries.add((tops[rank] + BOX_HEIGHT - 1, start))
    return Layout(boxes, layers, lines, width, height, entries)


def _clash(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Two hops that would run on top of each other (or corner to corner) on one track."""
    if a[2] == b[2] or a[3] == b[3]:
        return False  # the same start or the same end: one branching line
    lo_a, hi_a = sorted(a[:2])
    lo_b, hi_b = sorted(b[:2])
    return lo_a <= hi_b + 1 and lo_b <= hi_a + 1


def tree(needs: Mapping[str, Sequence[str]]) -> list[tuple[str, str, bool]]:
    """The steps as an outline (k9s' xray): each under the steps it needs.

    Rows of (prefix drawn with box characters, step, shown before). A step that needs
    more than one is drawn in full under its first need and named again, marked as shown,
    under the others. Depth is drawn up to 12 levels, then as ``┆ 37`` so a long chain
    stays readable.
    """
    children: dict[str, list[str]] = {s: [] for s in needs}
    for step, ns in needs.items():
        for n in ns:
            if n in children:
                children[n].append(step)
    rows: list[tuple[str, str, bool]] = []
    seen: set[str] = set()
    roots = [s for s, ns in needs.items() if not [n for n in ns if n in children]]
    stack: list[tuple[str, int, str, bool]] = [
        (root, 0, "", i == len(roots) - 1) for i, root in reversed(list(enumerate(roots)))
    ]
    while stack:  # depth first, without recursion: a chain of 10,000 is 10,000 deep
        step, depth, prefix, last = stack.pop()
        shown = step in seen
        branch = "" if depth == 0 else ("└─ " if last else "├─ ")
        drawn = f"┆ {depth:,} " if depth > 12 else prefix + branch
        rows.append((drawn, step, shown))
        if shown:
            continue
        seen.add(step)
        kids = children[step]
        nested = prefix + ("" if depth == 0 else ("   " if last else "│  "))
        for i, child in reversed(list(enumerate(kids))):
            stack.append((child, depth + 1, nested, i == len(kids) - 1))
    return rows
