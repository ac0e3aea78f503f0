"""The step graph: who needs whom, what runs first, and what follows from a step.

Every walk here is iterative and linear in the steps (or nearly): a 10,000-step chain
written in any order is as cheap to check as a short one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.definition.models import Step


def dependencies(steps: Sequence[Step]) -> dict[str, list[str]]:
    """Each step's ``needs``, with the implicit "follows the step above" filled in."""
    deps: dict[str, list[str]] = {}
    previous: str | None = None
    for step in steps:
        deps[step.id] = (
            list(step.needs)
            if step.needs is not None
            else ([previous] if previous is not None else [])
        )
        previous = step.id
    return deps


@dataclass(frozen=True)
class Graph:
    """A workflow's steps wired by their needs, worked out once per definition."""

    by_id: dict[str, Step]
    positions: dict[str, int]  # each step's place in the file
    needs: dict[str, list[str]]
    dependents: dict[str, list[str]]
    roots: list[str]  # steps that need nothing: they start at once
    # One step after another, each needing only the one before: run in one task.
    chain: bool = False

    @classmethod
    def of(cls, steps: Sequence[Step], start: int = 0) -> Graph:
        """``steps`` wired by their needs; ``start``: the first one's position."""
        needs = dependencies(steps)
        dependents: dict[str, list[str]] = {s.id: [] for s in steps}
        for sid, required in needs.items():
            for need in required:
                dependents[need].append(sid)
        roots = [sid for sid, required in needs.items() if not required]
        return cls(
            by_id={s.id: s for s in steps},
            positions={s.id: i for i, s in enumerate(steps, start)},
            needs=needs,
            dependents=dependents,
            roots=roots,
            chain=len(roots) == 1
            and all(len(d) <= 1 for d in dependents.values())
            and all(len(n) <= 1 for n in needs.values()),
        )

    def waiting(self) -> dict[str, int]:
        """How many steps each step still waits for, before any has run."""
        return {sid: len(required) for sid, required in self.needs.items()}

    def downstream(self, step_id: str) -> set[str]:
        """``step_id`` and every step that needs it, directly or not."""
        found = {step_id}
        todo = [step_id]
        while todo:
            for nxt in self.dependents[todo.pop()]:
                if nxt not in found:
                    found.add(nxt)
                    todo.append(nxt)
        return found


def find_cycle(deps: Mapping[str, Sequence[str]], known: Mapping[str, object]) -> list[str] | None:
    """A dependency cycle as ``[a, b, ..., a]``, or None (needs outside ``known`` ignored)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in deps:
        if root in state:
            continue
        state[root] = 1
        path = [root]
        stack: list[Iterator[str]] = [iter(deps.get(root, ()))]
        while stack:
            for nxt in stack[-1]:
                if nxt not in known or nxt == path[-1]:
                    continue
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append(iter(deps.get(nxt, ())))
                    break
            else:
                state[path.pop()] = 2
                stack.pop()
    return None


def topological(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Steps with each after the steps it needs (the graph has no cycle by now)."""
    order: list[str] = []
    done: set[str] = set()
    entered: set[str] = set()  # guards against a loop (duplicate ids make one)
    for root in deps:
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                done.add(node)
                order.append(node)
                continue
            if node in done or node in entered or node not in deps:
                continue
            entered.add(node)
            stack.append((node, True))
            stack.extend((need, False) for need in deps[node] if need not in entered)
    return order


class Reachability:
    """Does step A always finish before step B? (Is A an ancestor of B?)

    Each step's ancestors are one integer used as a bit set, built in dependency
    order: linear in the steps, where a set per step would be quadratic on a long chain.
    """

    def __init__(self, deps: Mapping[str, Sequence[str]]) -> None:
        self._index = {step: i for i, step in enumerate(deps)}
        self._bits: dict[str, int] = {}
        for step in topological(deps):
            bits = 0
            for need in deps[step]:
                if need in self._index:
                    bits |= self._bits.get(need, 0) | (1 << self._index[need])
            self._bits[step] = bits

    def knows(self, step: str) -> bool:
        return step in self._index

    def __call__(self, ancestor: str, step: str) -> bool:
        index = self._index.get(ancestor)
        return index is not None and bool(self._bits.get(step, 0) >> index & 1)
