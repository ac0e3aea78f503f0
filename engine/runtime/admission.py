"""Admitting executions: from a workflow's name, or a row already queued, to a :class:`Run`.

Here the workflow is read and parsed, a disabled one refused, the parameters merged and
the secrets it needs looked up, before anything starts; :mod:`.executor` then runs what
is admitted, under its limits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import trio

from engine import definition, store
from engine.definition.models import MAX_DEPTH
from engine.errors import EngineError, InvalidParams, NotFound
from engine.runtime.run import Prior, Run
from engine.status import ExecutionStatus

if TYPE_CHECKING:
    from engine.runtime.recorder import Recorder


async def queue(
    db: store.Store,
    name: str,
    params: Sequence[Mapping[str, Any]],
    trigger: str,
    *,
    owner: str | None,
    environ: Mapping[str, str],
    parent: tuple[int, str] | None = None,
) -> list[Run]:
    """Queue executions of workflow ``name`` in one transaction: a run for each, to start.

    Raises:
        NotFound: no such workflow.
        InvalidParams: it is disabled, the parameters do not fit, or a secret is not set.
    """
    row = await trio.to_thread.run_sync(store.get_workflow, db, name)
    if not row.active:
        raise InvalidParams(f"workflow {name!r} is disabled; `wfe workflow enable {name}` first")
    wf = definition.parsed(row)
    merged = [wf.merge_params(p) for p in params]
    secrets = secrets_for(wf, environ)
    rows = await trio.to_thread.run_sync(
        lambda: store.create_executions(db, row, merged, trigger, owner=owner, parent=parent)
    )
    return [
        Run(execution.id, row.id, wf, values, secrets, trigger)
        for execution, values in zip(rows, merged, strict=True)
    ]


async def queued(
    db: store.Store,
    recorder: Recorder,
    execution_id: int,
    environ: Mapping[str, str],
    *,
    resume: bool,
    taken_from: str | None,
) -> Run:
    """The run of an execution already queued in the store.

    ``resume`` reads the steps it has recorded. One that cannot start (its workflow gone
    or disabled, a secret missing) is recorded ``failed`` with the reason, and raises.
    """
    (found,) = await queued_many(
        db, recorder, [execution_id], environ, resume=resume, taken_from=taken_from
    )
    if isinstance(found, EngineError):
        raise found
    return found


async def queued_many(
    db: store.Store,
    recorder: Recorder,
    ids: Sequence[int],
    environ: Mapping[str, str],
    *,
    resume: bool,
    taken_from: str | None = None,
) -> list[Run | EngineError]:
    """The runs of executions already queued (a worker's claim), read in one trip to a
    thread: their rows, their workflows, and what they recorded (a take-over, a re-run
    that reuses results; nothing is read for one never started). One that cannot start
    is recorded ``failed`` with the reason, and its error stands in its place."""

    def read() -> tuple[
        dict[int, store.Execution],
        dict[str, store.Workflow | EngineError],
        dict[int, tuple[list[store.StepRun], int]],
        dict[int, int],
    ]:
        rows = store.get_executions(db, ids)
        workflows: dict[str, store.Workflow | EngineError] = {}
        for name in {e.workflow_name for e in rows.values()}:
            try:
                workflows[name] = store.get_workflow(db, name)
            except EngineError as exc:
                workflows[name] = exc
        recorded = {
            e.id: (store.step_runs(db, e.id, latest_only=True), store.last_log_seq(db, e.id))
            for e in rows.values()
            if resume and (e.started_at is not None or e.trigger.startswith("rerun of"))
        }
        depths = {e.id: _depth(db, e.parent_id) for e in rows.values() if e.parent_id}
        return rows, workflows, recorded, depths

    rows, workflows, recorded, depths = await trio.to_thread.run_sync(read)

    def workflow_of(name: str) -> store.Workflow:
        found = workflows[name]
        if isinstance(found, EngineError):
            raise found
        return found

    return await _admit(
        ids, rows, workflow_of, recorded, depths, recorder, environ, resume, taken_from
    )


async def claimed(
    db: store.Store, recorder: Recorder, claim: store.Claim, environ: Mapping[str, str]
) -> list[Run | EngineError]:
    """The runs of what a claim took: its rows and workflows came with it, so only a
    re-run's reused results and a child's depth are read (in one trip to a thread)."""
    rows = {x.id: x for x in claim.executions}
    reruns = [x.id for x in claim.executions if x.trigger.startswith("rerun of")]
    children = [x for x in claim.executions if x.parent_id]
    recorded: dict[int, tuple[list[store.StepRun], int]] = {}
    depths: dict[int, int] = {}
    if reruns or children:

        def read() -> None:
            for execution_id in reruns:
                recorded[execution_id] = (
                    store.step_runs(db, execution_id, latest_only=True),
                    store.last_log_seq(db, execution_id),
                )
            for x in children:
                depths[x.id] = _depth(db, x.parent_id)

        await trio.to_thread.run_sync(read)

    def workflow_of(name: str) -> store.Workflow:
        found = claim.workflows.get(name)
        if found is None:
            raise NotFound(f"no workflow named {name!r}; it was removed after it was queued")
        return found

    return await _admit(
        [x.id for x in claim.executions],
        rows,
        workflow_of,
        recorded,
        depths,
        recorder,
        environ,
        resume=True,
        taken_from=None,
        started=True,
    )


async def _admit(
    ids: Sequence[int],
    rows: Mapping[int, store.Execution],
    workflow_of: Callable[[str], store.Workflow],
    recorded: Mapping[int, tuple[list[store.StepRun], int]],
    depths: Mapping[int, int],
    recorder: Recorder,
    environ: Mapping[str, str],
    resume: bool,
    taken_from: str | None,
    *,
    started: bool = False,
) -> list[Run | EngineError]:
    """Runs of executions read from the store. ``started``: a claim recorded those it did
    not hold back running; one that cannot start is then recorded never started."""
    out: list[Run | EngineError] = []
    failed = False
    for execution_id in ids:
        row = rows.get(execution_id)
        if row is None:
            out.append(NotFound(f"no execution {execution_id}"))
            continue
        try:
            found = workflow_of(row.workflow_name)
            wf = definition.parsed(found)
            secrets = secrets_for(wf, environ)
            params = wf.merge_params(row.params)
        except EngineError as exc:
            ended: dict[str, Any] = {
                "status": ExecutionStatus.FAILED,
                "finished_at": store.utcnow(),
                "error": str(exc),
            }
            if started and row.started_at is not None:
                ended["started_at"] = None  # it never ran: the claim's start was not one
            recorder.execution(execution_id, ended)
            failed = True
            out.append(exc)
            continue
        run = Run(execution_id, found.id, wf, params, secrets, row.trigger)
        run.depth = depths.get(execution_id, 0)
        if started and row.status == ExecutionStatus.RUNNING:
            run.recorded_start = row.started_at
        if resume:
            runs, log_seq = recorded.get(execution_id, ([], 0))
            run.prior = {
                r.step_id: Prior(
                    r.status, r.attempt, r.output, r.started_at, r.host, r.pid, r.outputs, r.error
                )
                for r in runs
            }
            run.log_seq = log_seq
            run.taken_from = taken_from
            if taken_from is not None:
                run.first_started = row.started_at
        out.append(run)
    if failed:
        await recorder.sync()
    return out


def secrets_for(wf: definition.Workflow, environ: Mapping[str, str]) -> dict[str, str]:
    """The secrets ``wf`` names, from ``environ``; InvalidParams if one is not set."""
    missing = [s for s in wf.secrets if s not in environ]
    if missing:
        raise InvalidParams(
            f"workflow {wf.name!r} needs the secret(s) {', '.join(missing)};"
            " set them in the environment"
        )
    return {s: environ[s] for s in wf.secrets}


def _depth(db: store.Store, parent_id: int | None) -> int:
    depth = 0
    while parent_id is not None and depth <= MAX_DEPTH:
        depth += 1
        try:
            parent_id = store.get_execution(db, parent_id).parent_id
        except EngineError:  # pruned: as deep as it is known
            break
    return depth
