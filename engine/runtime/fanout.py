"""A ``foreach`` step: its action once per item, each item its own recorded step run.

The items come from a list, an expression that gives one, or a matrix (a mapping of
lists: every combination, as GitHub's ``strategy.matrix``). Item ``i`` runs as the step
run ``ID[label]`` (the item itself where it is short, plain and unique, else its index)
with ``${{ item }}`` in its expressions; the step's own run is recorded around them and
its output is the list of the items' outputs, in order.

A fixed number of tasks take the items in turn (``max_parallel``, or as many as the
execution has slots), so 10,000 items cost no more tasks than ten; an item that is a
``log`` runs straight through as a plain instant step does. With ``fail_fast`` (the
default) the first failed item stops new ones from starting: those are recorded skipped.
Taken over, items that had ended keep their results and only the rest run.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import trio

from engine import steps, store
from engine.definition import expressions
from engine.definition.models import MAX_ITEMS
from engine.errors import EngineError
from engine.runtime import step_loop
from engine.status import FAILURES, SETTLED, StepStatus

if TYPE_CHECKING:
    from engine import definition
    from engine.runtime.executor import Executor
    from engine.runtime.run import Run

ID_ROOM = 200  # characters of a step run's id the store keeps
LABEL_ROOM = 40  # of an item's label before its index stands for it


def items_of(spec: Any, context: Mapping[str, Any]) -> list[Any]:
    """What a ``foreach:`` gives in ``context``; EngineError when it is not a list."""
    if isinstance(spec, Mapping):
        keys = list(spec)
        lists = [_as_list(spec[k], context, f"matrix key {k!r}") for k in keys]
        total = 1
        for values in lists:
            total *= len(values)
        _check_count(total)
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*lists)]
    items = _as_list(spec, context, "foreach")
    _check_count(len(items))
    return items


def _as_list(value: Any, context: Mapping[str, Any], what: str) -> list[Any]:
    if isinstance(value, str):
        value = expressions.template(value).render(context)
        if not isinstance(value, list):
            hint = " (fromJSON() reads a JSON list)" if isinstance(value, str) else ""
            raise EngineError(
                f"{what} gave {expressions.to_text(value)[:60]!r} ({_kind(value)}),"
                f" not a list{hint}"
            )
        return value
    return [
        expressions.template(v).render(context) if isinstance(v, str) and "${{" in v else v
        for v in value
    ]


def _kind(value: Any) -> str:
    return {dict: "an object", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _check_count(n: int) -> None:
    if n > MAX_ITEMS:
        raise EngineError(f"{n:,} items; a foreach has at most {MAX_ITEMS:,}")


def item_ids(step_id: str, items: Sequence[Any]) -> list[str]:
    """Each item's step run id: ``ID[label]``, the labels the items themselves where each
    is short, plain and unique (``deploy[web-1]``, ``test[linux, 3.12]``), else indexes."""
    labels = [_label(item) for item in items]
    room = min(LABEL_ROOM, ID_ROOM - len(step_id) - 2)
    if any(x is None or len(x) > room for x in labels) or len(set(labels)) < len(labels):
        return [f"{step_id}[{i}]" for i in range(len(items))]
    return [f"{step_id}[{x}]" for x in labels]


def _label(item: Any) -> str | None:
    if isinstance(item, Mapping):
        parts = [_label(v) for v in item.values()]
        if any(p is None for p in parts):
            return None
        return ", ".join(p for p in parts if p is not None)
    if isinstance(item, list):
        return None
    text = expressions.to_text(item)
    if not text or not text.isprintable() or any(c in text for c in "[]"):
        return None
    return text


async def run_items(
    ex: Executor,
    run: Run,
    step: definition.Step,
    row: dict[str, Any],
    context: dict[str, Any],
    environ: Mapping[str, str],
    limiter: trio.CapacityLimiter,
) -> str:
    """Run every item of ``step`` (recorded under ``row``, the step's own run): its status."""
    prior = run.prior.get(step.id)
    if prior is not None:
        row["attempt"] = prior.attempt + 1  # its runner died while the items ran
    row["started_at"] = store.utcnow()
    start = time.perf_counter()
    try:
        items = items_of(step.foreach, context)
    except EngineError as exc:
        row["duration_ms"] = (time.perf_counter() - start) * 1000
        step_loop.record(ex, row, StepStatus.FAILED, run.mask(f"foreach: {exc}"))
        return StepStatus.FAILED
    ids = item_ids(step.id, items)
    row["output"] = {"items": len(items)}  # while they run: how many (the console says)
    step_loop.record(ex, row, StepStatus.RUNNING)
    outputs: list[Any] = [None] * len(items)
    statuses: list[str | None] = [None] * len(items)
    stopped = False
    turns = iter(range(len(items)))
    position = row["position"]

    async def take_turns() -> None:
        nonlocal stopped
        for i in turns:
            item_id = ids[i]
            before = run.prior.get(item_id)
            if before is not None and before.status in SETTLED:
                # Ended before a take-over: it keeps its result and does not run again.
                statuses[i], outputs[i] = before.status, before.output
                stopped = stopped or (step.fail_fast and before.status in FAILURES)
                continue
            item_row = run.results[item_id] = step_loop.new_row(run, item_id, position)
            if before is not None:  # running when its runner died: its next attempt
                item_row["attempt"] = before.attempt + 1
            if stopped:
                step_loop.record(ex, item_row, StepStatus.SKIPPED, "an earlier item failed")
                statuses[i] = StepStatus.SKIPPED
            else:
                if step.kind not in steps.INSTANT:
                    # Recorded before the first wait, so the items' rows keep their order.
                    step_loop.record(ex, item_row, StepStatus.PENDING)
                scope = {**context, "item": items[i]}
                status = await step_loop.execute(ex, run, step, item_row, scope, environ, limiter)
                statuses[i], outputs[i] = status, item_row["output"]
                if status in FAILURES and step.fail_fast:
                    stopped = True
            del run.results[item_id]  # ended: nothing of it is needed any more

    # Instant items never wait: one task runs them in order, as a chain of steps runs.
    width = 1 if step.kind in steps.INSTANT else step.max_parallel or int(limiter.total_tokens)
    workers = min(len(items), width)
    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(take_turns)

    failed = [ids[i] for i, s in enumerate(statuses) if s in FAILURES]
    row["output"] = outputs
    row["duration_ms"] = (time.perf_counter() - start) * 1000
    if not failed:
        step_loop.record(ex, row, StepStatus.SUCCEEDED)
        return StepStatus.SUCCEEDED
    shown = ", ".join(failed[:3]) + (f" and {len(failed) - 3:,} more" if len(failed) > 3 else "")
    skipped = sum(1 for s in statuses if s == StepStatus.SKIPPED)
    error = f"{len(failed):,} of {len(items):,} items failed: {shown}"
    if skipped:
        error += f"; {skipped:,} not started"
    step_loop.record(ex, row, StepStatus.FAILED, error)
    return StepStatus.FAILED
