"""Workflows that run workflows (``workflow: NAME``): checked across files when added.

A single file cannot know whether the workflow it calls exists, or whether the calls come
back around (a -> b -> a, which would run forever): both are checked when workflows are
added to a store, against the ones added with them and the ones stored, and refused with
the file, the line and the field of the call, as every other problem is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from engine.definition import graph, loader
from engine.definition.loader import field_name, line_of
from engine.definition.models import Step, Workflow
from engine.errors import Problem


def _calling_steps(wf: Workflow) -> Iterator[tuple[tuple[str | int, ...], Step]]:
    """Each step with ``workflow:``, and where it is in the file."""
    for i, step in enumerate(wf.steps):
        if step.workflow is not None:
            yield ("steps", i, "workflow"), step
    for name, steps in wf.on.lists():
        for i, step in enumerate(steps):
            if step.workflow is not None:
                yield ("on", name, i, "workflow"), step


def check(
    added: Sequence[tuple[Workflow, str]], stored: Callable[[str], Workflow | None]
) -> list[Problem]:
    """The problems of the calls of ``added`` (each with its file): an unknown workflow,
    or a cycle of calls; ``stored`` finds a workflow already in the store by name."""
    mine = {wf.name: wf for wf, _ in added}
    if not any(wf.calls for wf in mine.values()):
        return []  # a new cycle would have to pass through a call added now
    known: dict[str, Workflow | None] = dict(mine)

    def find(name: str) -> Workflow | None:
        if name not in known:
            known[name] = stored(name)
        return known[name]

    problems: list[Problem] = []
    for wf, file in added:
        data = loader.read(wf.source) if wf.source else None
        for loc, step in _calling_steps(wf):
            assert step.workflow is not None
            if find(step.workflow) is None:
                names = sorted(n for n, w in known.items() if w is not None)
                problems.append(
                    Problem(
                        file,
                        line_of(data, loc),
                        field_name(data, loc),
                        f"unknown workflow {step.workflow!r} (add it first, or with this"
                        f" file; known: {', '.join(names) or 'none'})",
                    )
                )
    # Every call reachable from the added workflows, read as a graph of names.
    calls: dict[str, list[str]] = {}
    todo = list(mine)
    while todo:
        name = todo.pop()
        if name in calls:
            continue
        found = find(name)
        calls[name] = list(dict.fromkeys(found.calls)) if found is not None else []
        todo.extend(c for c in calls[name] if c not in calls)
    itself = next((n for n in mine if n in calls.get(n, [])), None)
    cycle = [itself, itself] if itself is not None else graph.find_cycle(calls, calls)
    if cycle:
        start = next((n for n in cycle if n in mine), cycle[0])
        caller = mine.get(start)
        if caller is not None:
            file = next(f for w, f in added if w is caller)
            data = loader.read(caller.source) if caller.source else None
            at = cycle.index(start)
            nxt = cycle[at + 1] if at + 1 < len(cycle) else cycle[0]
            loc = next((loc for loc, s in _calling_steps(caller) if s.workflow == nxt), ("steps",))
            problems.append(
                Problem(
                    file,
                    line_of(data, loc),
                    field_name(data, loc),
                    "workflows call each other in a cycle: " + " -> ".join(cycle),
                )
            )
    return problems
