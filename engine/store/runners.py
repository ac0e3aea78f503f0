"""Runners and their leases: heartbeats, claims of queued work, take-over of the dead's.

A runner (a worker, a console, a foreground ``wfe run``) holds the executions it runs
(``execution.worker``) for as long as its lease lasts: each heartbeat moves its expiry
to now plus its own lease. A runner past its expiry, or stopped, is dead: another takes
its executions over, and from that commit on the dead one's writes are fenced off (see
:mod:`engine.store.writer`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from engine import settings
from engine.status import ACTIVE, ExecutionStatus, RunnerKind
from engine.store import wakeups
from engine.store.connection import Store, translate_errors
from engine.store.records import Execution, Runner, Workflow
from engine.store.tables import EXECUTION, LEASE, RUNNER, WORKFLOW, WORKFLOW_READ, utcnow

DEFAULT_LEASE = settings.DEFAULT_LEASE

e, r = EXECUTION.c, RUNNER.c


def heartbeat(
    store: Store, runner: Runner, *, lease: float = DEFAULT_LEASE, stopped: bool = False
) -> None:
    """Record that ``runner`` is alive for ``lease`` more seconds (or has ``stopped``)."""
    now = utcnow()
    values = {
        "heartbeat_at": now,
        "expires_at": now + timedelta(seconds=lease),
        "stopped_at": now if stopped else None,
    }
    from engine.store.workflows import fold_in

    with translate_errors(store), store.writer.begin() as conn:
        if stopped:
            fold_in(conn, runner.id)  # its tallies, into its workflows' rows
        done = conn.execute(RUNNER.update().where(r.id == runner.id).values(values))
        if not done.rowcount:
            conn.execute(
                RUNNER.insert().values(
                    id=runner.id,
                    kind=runner.kind,
                    host=runner.host,
                    pid=runner.pid,
                    concurrency=runner.concurrency,
                    started_at=runner.started_at,
                    **values,
                )
            )


def live_runners(store: Store, *, kind: str | None = RunnerKind.WORKER) -> list[Runner]:
    """Runners of ``kind`` (any kind: None) whose lease has not expired."""
    where = [r.expires_at >= utcnow(), r.stopped_at.is_(None)]
    if kind is not None:
        where.append(r.kind == kind)
    with translate_errors(store), store.engine.connect() as conn:
        return [Runner.of(row) for row in conn.execute(sa.select(RUNNER).where(*where)).mappings()]


def assign(store: Store, execution_id: int, owner: str | None) -> None:
    """Lease a queued, unclaimed execution to ``owner`` (the process about to run it)."""
    with translate_errors(store), store.writer.begin() as conn:
        conn.execute(
            EXECUTION.update()
            .where(e.id == execution_id, e.worker.is_(None), e.status == ExecutionStatus.QUEUED)
            .values(worker=owner)
        )


def claim(store: Store, runner: str, limit: int) -> list[int]:
    """Take up to ``limit`` queued executions for ``runner``, oldest first (they stay
    queued: the runner records each start; :func:`claim_started` records them running).

    Atomic across processes: two runners never claim the same execution (how, the
    dialect knows: a write lock taken before reading, or rows locked as they are read).
    """
    if limit <= 0:
        return []
    with translate_errors(store), store.dialect.claiming(store.engine) as conn:
        if conn is None:
            return []
        return sorted(conn.execute(_CLAIM_IDS, {"runner": runner, "limit": limit}).scalars())


_w = WORKFLOW.c
_HELD = EXECUTION.alias("held")
_held = _HELD.c
_S = TypeVar("_S", bound=sa.Select[Any])


def _by_held(statement: _S, table: sa.FromClause = EXECUTION) -> _S:
    """``statement`` reading ``table`` by ix_execution_held: a few rows (what runners
    hold), however long the queue. SQLite, which keeps no statistics, would read every
    queued row by the index of statuses instead; PostgreSQL chooses it by its own."""
    return statement.with_hint(table, "INDEXED BY ix_execution_held", "sqlite")


def _indexed_by(self: SQLiteCompiler, table: sa.FromClause, text: str | None) -> str | None:
    return text  # SQLite's INDEXED BY follows the table, as a hint does elsewhere


SQLiteCompiler.get_from_hint_text = _indexed_by  # type: ignore[method-assign,assignment]


# The active statuses written into statements (as ix_execution_held's own condition),
# so that PostgreSQL's plan made once for any parameters can read that index.
_ACTIVE: list[sa.ColumnElement[Any]] = [
    sa.literal_column(f"'{status}'") for status in sorted(ACTIVE)
]


def _limited_held(*whose: sa.ColumnElement[bool]) -> sa.Select[tuple[int]]:
    """The limited workflows (``concurrency:``) that runners ``whose`` says hold
    executions of (by ix_execution_held: a few rows)."""
    held = sa.select(_held.workflow_id).where(
        _held.status.in_(_ACTIVE), _held.worker.is_not(None), *whose
    )
    return sa.select(_w.id).where(
        _w.concurrency.is_not(None), _w.id.in_(_by_held(held.distinct(), _HELD))
    )


# The limited workflows (``concurrency:``) another runner holds executions of: theirs go
# to that runner, and a claim leaves them out rather than take them to put them back
# (they would stand at the head of the queue before everything else). A few rows at
# most, read once a claim; :func:`_held_elsewhere` checks again under the rows' locks.
_LEFT_OUT = _limited_held(_held.worker != sa.bindparam("runner"))
# The oldest queued executions nobody holds (``limit`` of them), locked as they are read
# on PostgreSQL (skipping those another claim locked); SQLite holds its write lock.
# The status is written into the statement, not bound: only then can PostgreSQL's plan
# for it (prepared, and generic after a few runs) use the partial index of what can be
# claimed, ix_execution_claimable; with a parameter it sorts every queued row each time.
_WAITING = (
    sa.select(e.id)
    .where(
        e.status == sa.literal_column(f"'{ExecutionStatus.QUEUED.value}'"),
        e.worker.is_(None),
        e.workflow_id.not_in(_LEFT_OUT),
    )
    .order_by(e.id)
    .limit(sa.bindparam("limit", type_=sa.Integer))
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)


class _OneOf(sa.sql.expression.ColumnElement[bool]):
    """``execution.id IN (subquery)``; on PostgreSQL ``= ANY(ARRAY(subquery))``.

    A driver prepares a statement it runs often, and PostgreSQL then plans it anew at
    each run, or once for any parameters (a generic plan). For ``IN``, a generic plan
    takes ``LIMIT $n`` for a tenth of the queue and joins it to the whole table, so the
    claim is planned afresh at every run; an array is one value, found by the primary
    key, and its plan is made once (measured: 14% less time a claim, prepared).
    """

    inherit_cache = True
    type = sa.types.NullType()  # type: ignore[assignment]  # (a Boolean: "= 1" on SQLite)
    _traverse_internals = [("subquery", InternalTraversal.dp_clauseelement)]

    def __init__(self, subquery: sa.ScalarSelect[Any]) -> None:
        self.subquery = subquery


@compiles(_OneOf)
def _one_of(element: _OneOf, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(e.id.in_(element.subquery), **kw))


@compiles(_OneOf, "postgresql")
def _one_of_array(element: _OneOf, compiler: Any, **kw: Any) -> str:
    return f"execution.id = ANY(ARRAY{compiler.process(element.subquery, **kw)})"


_CLAIM = EXECUTION.update().where(_OneOf(_WAITING))
# Built once: a claim runs many times a second, and SQLAlchemy then compiles it once.
_CLAIM_IDS = _CLAIM.values(worker=sa.bindparam("runner")).returning(e.id)
# Each claimed row brings what its workflow is now (digest, version, state): a known
# workflow still current is then not read at all.
_WORKFLOW_NOW = [
    sa.select(column).where(_w.name == e.workflow_name).scalar_subquery().label(f"wf_{name}")
    for name, column in (("digest", _w.digest), ("version", _w.version), ("active", _w.is_active))
]
# What a claimed row brings back: what the claim did not set itself.
_CLAIMED = (
    e.id,
    e.workflow_id,
    e.workflow_name,
    e.version,
    e.params,
    e.trigger,
    e.cancel_requested,
    e.queued_at,
    e.parent_id,
    e.parent_step,
)
_CLAIM_STARTED = _CLAIM.values(
    worker=sa.bindparam("runner"),
    status=ExecutionStatus.RUNNING,
    started_at=sa.bindparam("now", type_=EXECUTION.c.started_at.type),
).returning(*_CLAIMED, *_WORKFLOW_NOW)
_WORKFLOWS_NAMED = sa.select(*WORKFLOW_READ).where(
    _w.name.in_(sa.bindparam("names", expanding=True))
)


@dataclass(frozen=True)
class Claim:
    """What one claim took: executions, oldest first, and the workflows they run."""

    executions: list[Execution]  # recorded running from the claim, unless ``held``
    workflows: Mapping[str, Workflow]  # each one's workflow as it is now (absent: removed)
    held: frozenset[int] = frozenset()  # claimed, still queued: they wait for a limit


NOTHING = Claim([], {})


@dataclass(frozen=True)
class ClaimRequest:
    """A claim to make inside another transaction (a batch that frees slots: see
    :func:`engine.store.writer.write_batch_and_claim`); the arguments of
    :func:`claim_started`."""

    runner: str
    limit: int
    known: Mapping[str, Workflow] = dataclasses.field(default_factory=dict)
    held: Callable[[Workflow], bool] = lambda workflow: False


def claim_started(
    store: Store,
    runner: str,
    limit: int,
    *,
    known: Mapping[str, Workflow] | None = None,
    held: Callable[[Workflow], bool] = lambda workflow: False,
) -> Claim:
    """Take up to ``limit`` queued executions for ``runner`` and record them running, in
    one statement (and one transaction, with what they run).

    Atomic across processes as :func:`claim` is. ``known``: workflows the caller has
    already, by name; one whose digest, version and state still hold is not read
    again (a definition is read once per change, not once per execution). The
    executions of a workflow for which ``held`` says so stay queued (claimed): they
    wait for a limit of the runner's before they start (a workflow's concurrency).
    """
    if limit <= 0:
        return NOTHING
    with translate_errors(store), store.dialect.claiming(store.engine) as conn:
        if conn is None:
            return NOTHING
        request = ClaimRequest(runner, limit, known or {}, held)
        if not store.dialect.typed_rows:
            return claim_in(conn, request)
        # The driver's rows as they come: SQLAlchemy's layers cost more than the
        # statement takes the server, and an idle runner's first step waits for them.
        cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            # (Not in a pipeline: measured, pipeline mode's own round trips cost an idle
            # runner's first step more than the BEGIN it would save.)
            now = send_claim(conn, cursor, request)
            return claimed_rows(conn, request, now, cursor.fetchall()) if now else NOTHING
        finally:
            cursor.close()


def claim_in(conn: sa.Connection, request: ClaimRequest) -> Claim:
    """:func:`claim_started` inside a transaction that is safe from other claimers (the
    dialect's ``claiming``, or a batch's ``group_commit``)."""
    if request.limit <= 0:
        return NOTHING
    return _claimed_again(conn, request, request.limit, RETRIES)


def send_claim(conn: sa.Connection, cursor: Any, request: ClaimRequest) -> datetime | None:
    """:func:`claim_in`'s statement sent on the driver's ``cursor`` (in a pipeline: its
    rows are read when it ends, for :func:`claimed_rows`); the time it records as the
    start, or None: nothing to claim, nothing sent."""
    if request.limit <= 0:
        return None
    sql, fixed = _claim_sql(conn.dialect)
    now = utcnow()
    cursor.execute(sql, {**fixed, "runner": request.runner, "limit": request.limit, "now": now})
    return now


def claimed_rows(
    conn: sa.Connection, request: ClaimRequest, now: datetime, rows: Sequence[tuple[Any, ...]]
) -> Claim:
    """What :func:`send_claim`'s statement took, from the driver's rows."""
    return _claimed(conn, request, now, [_ClaimedRow._make(row) for row in rows])


class _ClaimedRow(NamedTuple):
    """A claimed row as the driver gives it: :data:`_CLAIMED`, then :data:`_WORKFLOW_NOW`."""

    id: int
    workflow_id: int
    workflow_name: str
    version: int
    params: dict[str, Any]
    trigger: str
    cancel_requested: bool
    queued_at: datetime
    parent_id: int | None
    parent_step: str | None
    wf_digest: str | None
    wf_version: int | None
    wf_active: bool | None


@functools.cache
def _claim_sql(dialect: sa.Dialect) -> tuple[str, dict[str, Any]]:
    """The claim's text for the driver, compiled once, and the values it fixes."""
    compiled = _CLAIM_STARTED.compile(dialect=dialect)
    fixed = {
        k: v.value if isinstance(v, ExecutionStatus) else v for k, v in compiled.params.items()
    }
    return compiled.string, fixed


RETRIES = 2  # claims again in the place of what another runner's claim took first


def _claimed_again(conn: sa.Connection, request: ClaimRequest, limit: int, retries: int) -> Claim:
    now = utcnow()
    rows = conn.execute(
        _CLAIM_STARTED, {"runner": request.runner, "limit": limit, "now": now}
    ).all()
    return _claimed(conn, request, now, rows, retries)


def _claimed(
    conn: sa.Connection,
    request: ClaimRequest,
    now: datetime,
    found: Sequence[Any],
    retries: int = RETRIES,
) -> Claim:
    if not found:
        return NOTHING
    rows = sorted(found, key=lambda row: row.id)
    claimed = [
        Execution(
            id=row.id,
            workflow_id=row.workflow_id,
            workflow_name=row.workflow_name,
            version=row.version,
            params=row.params,
            status=ExecutionStatus.RUNNING,
            trigger=row.trigger,
            cancel_requested=row.cancel_requested,
            runner=request.runner,
            queued_at=row.queued_at,
            started_at=now,
            finished_at=None,
            duration_ms=None,
            error=None,
            parent_id=row.parent_id,
            parent_step=row.parent_step,
        )
        for row in rows
    ]
    workflows = _current_workflows(conn, rows, request.known)
    waits = frozenset(
        x.id
        for x in claimed
        if x.workflow_name in workflows and request.held(workflows[x.workflow_name])
    )
    if waits:
        # A workflow's concurrency holds across runners: its executions are run by one
        # runner at a time (which keeps to the limit itself). Those of a workflow that
        # another runner holds executions of go back to the queue, for that one.
        elsewhere = _held_elsewhere(
            conn, request.runner, {x.workflow_id for x in claimed if x.id in waits}
        )
        back = frozenset(x.id for x in claimed if x.id in waits and x.workflow_id in elsewhere)
        if back:
            conn.execute(
                EXECUTION.update()
                .where(e.id.in_(back))
                .values(status=ExecutionStatus.QUEUED, worker=None, started_at=None)
            )
            claimed = [x for x in claimed if x.id not in back]
            waits -= back
            if retries:
                # A claim of theirs committed as this one read (it waited for their
                # locks): the queue behind them is claimed in their place, now that the
                # claim statement sees whose they are and leaves them out.
                more = _claimed_again(conn, request, len(back), retries - 1)
                claimed = sorted([*claimed, *more.executions], key=lambda x: x.id)
                workflows = {**workflows, **more.workflows}
                waits |= more.held
    if waits:
        conn.execute(
            EXECUTION.update()
            .where(e.id.in_(waits))
            .values(status=ExecutionStatus.QUEUED, started_at=None)
        )
        claimed = [
            dataclasses.replace(x, status=ExecutionStatus.QUEUED, started_at=None)
            if x.id in waits
            else x
            for x in claimed
        ]
    return Claim(claimed, workflows, waits)


def _held_elsewhere(conn: sa.Connection, runner: str, workflow_ids: Collection[int]) -> set[int]:
    """Which of these workflows another runner holds executions of (running, or claimed
    and waiting for the limit there).

    Their rows are locked first, in id order (PostgreSQL; SQLite's claims hold its write
    lock): two claims of one such workflow go one after the other, and the second sees
    what the first took.
    """
    ids = sorted(workflow_ids)
    # (NO KEY UPDATE: what queues an execution holds KEY SHARE on its workflow's row,
    # through the foreign key, and a claim need not wait for that.)
    conn.execute(
        sa.select(_w.id).where(_w.id.in_(ids)).order_by(_w.id).with_for_update(key_share=True)
    )
    held = conn.execute(
        _by_held(
            sa.select(e.workflow_id)
            .where(e.status.in_(_ACTIVE), e.worker.is_not(None), e.worker != runner)
            .distinct()
        )
    )
    return set(held.scalars()) & set(ids)  # (by ix_execution_held: a few rows)


def unclaim(store: Store, runner: str, ids: Collection[int]) -> int:
    """Hand back executions ``runner`` claimed and never started: queued again, for
    anyone to claim (a worker that stops before it starts what its last batch claimed),
    and the idle runners told. Only those it still holds, recorded running by the claim
    or held queued by it; one whose cancel was asked for meanwhile is cancelled instead.
    How many went back to the queue."""
    if not ids:
        return 0
    mine = (
        e.id.in_(set(ids)),
        e.worker == runner,
        e.status.in_((ExecutionStatus.RUNNING, ExecutionStatus.QUEUED)),
    )
    with translate_errors(store), store.writer.begin() as conn:
        conn.execute(
            EXECUTION.update()
            .where(*mine, e.cancel_requested.is_(True))
            .values(
                status=ExecutionStatus.CANCELLED,
                finished_at=utcnow(),
                error="cancelled before it started",
            )
        )
        back = conn.execute(
            EXECUTION.update()
            .where(*mine)
            .values(status=ExecutionStatus.QUEUED, worker=None, started_at=None)
        ).rowcount
        told = bool(back) and wakeups.notify_in(store, conn)
    if back and not told:
        wakeups.notify(store)
    return back or 0


def _current_workflows(
    conn: sa.Connection, rows: Sequence[sa.Row[Any]], known: Mapping[str, Workflow]
) -> dict[str, Workflow]:
    """The workflows of the claimed ``rows`` as stored now (absent: removed); those
    ``known`` still current are not read again (their definitions can be long)."""
    found: dict[str, Workflow] = {}
    stale: set[str] = set()
    for row in rows:
        name = row.workflow_name
        if name in found or name in stale or row.wf_digest is None:
            continue  # seen, or removed since it was queued
        mine = known.get(name)
        now = (row.wf_digest, row.wf_version, bool(row.wf_active))
        if mine is not None and (mine.digest, mine.version, mine.active) == now:
            found[name] = mine
        else:
            stale.add(name)
    if stale:
        for full in conn.execute(_WORKFLOWS_NAMED, {"names": sorted(stale)}).mappings():
            found[full["name"]] = Workflow.of(full)
    return found


def _gone(
    conn: sa.Connection, runner: str, watched: float, dead: Callable[[Runner], bool] | None
) -> list[str]:
    """The runners other than ``runner`` that hold executions and are dead (see
    :func:`take_over`)."""
    now = utcnow()
    owners = set(
        conn.execute(
            _by_held(
                sa.select(e.worker)
                .where(e.status.in_(_ACTIVE), e.worker.is_not(None), e.worker != runner)
                .distinct()
            )
        ).scalars()
    )
    if not owners:
        return []
    known = {
        row.id: row
        for row in map(
            Runner.of, conn.execute(sa.select(RUNNER).where(r.id.in_(owners))).mappings()
        )
    }
    gone = []
    for owner in owners:
        row = known.get(owner)
        if row is None or row.stopped_at is not None or (dead is not None and dead(row)):
            gone.append(owner)
        elif row.expires_at < now:
            lease = (row.expires_at - row.heartbeat_at).total_seconds()
            if lease <= watched:
                gone.append(owner)
    return gone


def _takeable(runner: str, gone: Collection[str]) -> tuple[sa.ColumnElement[bool], ...]:
    """What ``runner`` can take over from the ``gone``: what they hold, but for the
    executions of a limited workflow that a live runner holds executions of too (taken
    over by that one, they go on running one runner at a time: see :data:`_LEFT_OUT`)."""
    shared = _limited_held(_held.worker != runner, _held.worker.not_in(gone))
    return (
        e.status.in_(_ACTIVE),
        e.worker.is_not(None),
        e.worker.in_(gone),
        e.workflow_id.not_in(shared),
    )


def orphans(
    store: Store,
    runner: str,
    *,
    watched: float = math.inf,
    dead: Callable[[Runner], bool] | None = None,
) -> int:
    """How many executions dead runners hold, that :func:`take_over` would take (a read)."""
    with translate_errors(store), store.engine.connect() as conn:
        gone = _gone(conn, runner, watched, dead)
        if not gone:
            return 0
        count = conn.execute(
            _by_held(
                sa.select(sa.func.count()).select_from(EXECUTION).where(*_takeable(runner, gone))
            )
        ).scalar_one()
        return int(count)


def take_over(
    store: Store,
    runner: str,
    *,
    limit: int,
    watched: float = math.inf,
    dead: Callable[[Runner], bool] | None = None,
) -> dict[int, str]:
    """Claim executions whose runner has stopped, is ``dead``, or let its lease expire.

    Returns each one's id with the runner it was taken from. Each runner's lease is its
    own (recorded with each heartbeat), so a taker started with a shorter lease never
    takes work from a runner that is merely slower to beat. ``watched``: for how many
    seconds the taker's own heartbeats have been going through. A lease that expired
    while the taker was cut off too (a lock on the whole store, a pause) proves nothing:
    only a runner silent for a whole lease the taker saw is judged dead. ``dead``:
    tells a runner known dead for certain (its process is gone), whatever its lease.
    """
    if limit <= 0:
        return {}
    with translate_errors(store), store.writer.begin() as conn:
        gone = _gone(conn, runner, watched, dead)
        if not gone:
            return {}
        taken: dict[int, str] = {
            execution_id: previous
            for execution_id, previous in conn.execute(
                _by_held(
                    sa.select(e.id, e.worker)
                    .where(*_takeable(runner, gone))
                    .order_by(e.id)
                    .limit(limit)
                )
            )
        }
        if taken:
            # Checked again as each row is updated: a batch of the old runner's that held
            # a row (PostgreSQL locks rows, see the dialects) may have ended it meanwhile.
            still = set(
                conn.execute(
                    EXECUTION.update()
                    .where(e.id.in_(taken), e.status.in_(ACTIVE), e.worker.in_(gone))
                    .values(worker=runner)
                    .returning(e.id)
                ).scalars()
            )
            taken = {k: v for k, v in taken.items() if k in still}
    return taken


def held_by(store: Store, runner: str, ids: Collection[int]) -> set[int]:
    """Which of ``ids`` are still leased to ``runner`` (the others were taken over)."""
    if not ids:
        return set()
    with translate_errors(store), store.engine.connect() as conn:
        return set(conn.execute(sa.select(e.id).where(e.id.in_(ids), e.worker == runner)).scalars())


def runners_by_id(store: Store, ids: Collection[str]) -> dict[str, Runner]:
    """The runners of these ids (those recorded), by id: whose heartbeat is how old."""
    if not ids:
        return {}
    with translate_errors(store), store.engine.connect() as conn:
        return {
            row.id: row
            for row in map(
                Runner.of, conn.execute(sa.select(RUNNER).where(r.id.in_(set(ids)))).mappings()
            )
        }


def runners_on(store: Store, host: str) -> list[Runner]:
    """The runners on ``host`` that have not said they stopped (alive or not)."""
    with translate_errors(store), store.engine.connect() as conn:
        return [
            Runner.of(row)
            for row in conn.execute(
                sa.select(RUNNER).where(r.host == host, r.stopped_at.is_(None))
            ).mappings()
        ]


def acquire_lease(store: Store, name: str, holder: str, *, ttl: float) -> bool:
    """Take or renew lease ``name`` for ``ttl`` seconds; False while someone else holds it."""
    now = utcnow()
    c = LEASE.c
    with translate_errors(store), store.writer.begin() as conn:
        row = conn.execute(sa.select(c.holder, c.expires_at).where(c.name == name)).first()
        if row is not None and row.holder != holder and row.expires_at > now:
            return False
        expires = now + timedelta(seconds=ttl)
        if row is None:
            conn.execute(LEASE.insert().values(name=name, holder=holder, expires_at=expires))
        else:
            conn.execute(
                LEASE.update().where(c.name == name).values(holder=holder, expires_at=expires)
            )
    return True
