"""Taking an execution up where a dead runner left it.

Finished steps keep their results and never run again; a step that was running when its
runner died is closed as failed and runs again as its next attempt, after whatever its
shell left running on this host is ended.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from engine import store
from engine.status import BLOCKING, SETTLED, StepStatus
from engine.steps import processes

if TYPE_CHECKING:
    from engine import definition
    from engine.runtime.executor import Executor
    from engine.runtime.run import Run

logger = logging.getLogger(__name__)


async def end_orphans(ex: Executor, run: Run) -> None:
    """End the shell processes the dead owner left running, before their steps rerun.

    Its recorded process groups, and on this host any group whose environment says
    the dead runner started it for this execution (it may have died before the
    group was recorded).
    """
    groups: dict[int, str] = {}  # process group -> WFE_STEP_RUN token
    for step_id, prior in run.prior.items():
        if prior.pid is None or prior.status in SETTLED:
            continue
        if prior.host != processes.HOST:
            ex.log(
                run,
                step_id,
                f"attempt {prior.attempt} ran on {prior.host} as process group {prior.pid}"
                " when its runner stopped responding; it may still be running there",
                "system",
            )
        else:
            groups[prior.pid] = f"{run.id}/{step_id}/{prior.attempt}"
    if run.taken_from is not None:
        left = await trio.to_thread.run_sync(processes.groups_left_by, run.taken_from, run.id)
        groups = {**left, **groups}
    for pgid, token in groups.items():
        step, _, which = token.removeprefix(f"{run.id}/").rpartition("/")
        if await processes.end_orphans(pgid, token, ex.kill_grace):
            logger.info("execution %d: ended process group %d left by %s", run.id, pgid, token)
            ex.log(
                run,
                step or None,
                f"ended process group {pgid}, left running by attempt {which}'s runner",
                "system",
            )


def restore(
    ex: Executor,
    run: Run,
    graph: definition.Graph,
    context: dict[str, Any],
    waiting: dict[str, int],
) -> list[str]:
    """Take up an execution where its previous owner left it; the steps ready to run."""
    finished: set[str] = set()
    for step_id, prior in run.prior.items():
        base, _, label = step_id.partition("[")
        item = bool(label) and base in graph.by_id  # one item of a foreach step
        if step_id not in graph.by_id and not item:
            continue  # the workflow changed since: a step it no longer has
        if prior.status not in SETTLED:
            # Its owner died while it ran: close that attempt; the next one runs.
            ex.recorder.step(
                {
                    "execution_id": run.id,
                    "step_id": step_id,
                    "position": graph.positions[base],
                    "attempt": prior.attempt,
                    "status": StepStatus.FAILED,
                    "started_at": prior.started_at,
                    "finished_at": store.utcnow(),
                    "duration_ms": None,
                    "exit_code": None,
                    "output": None,
                    "outputs": None,
                    "error": "its runner stopped responding; taken over",
                    "host": prior.host,
                    "pid": prior.pid,
                },
                in_db=True,
            )
            continue
        if item:
            continue  # its step runs again and takes up each item where it stood
        finished.add(step_id)
        context["steps"][step_id] = {
            "output": prior.output,
            "outputs": prior.outputs or {},
            "status": prior.status,
        }
        run.results[step_id] = {
            "status": prior.status,
            "attempt": prior.attempt,
            "error": prior.error,
        }
        failed = prior.status in BLOCKING and not graph.by_id[step_id].continue_on_error
        if failed or (
            prior.status == StepStatus.SKIPPED
            and any(n in run.blocked for n in graph.needs[step_id])
        ):
            run.blocked.add(step_id)
    for step_id in finished:
        for nxt in graph.dependents[step_id]:
            waiting[nxt] -= 1
    return [s for s in graph.by_id if s not in finished and waiting[s] == 0]
