"""The hot path: the executor's group commits, one transaction per batch.

A :class:`Batch` holds step runs to insert or update, log lines and execution changes;
:func:`write_batch` writes it with plain multi-row statements on the driver (the
dialect's fastest insert), or through SQLAlchemy's typed path (:func:`_write_portable`,
the reference the fast path is tested against). A batch from a runner that no longer
holds an execution drops that execution's rows: the fence.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.status import FAILURES, SETTLED, ApprovalStatus, ExecutionStatus
from engine.store.connection import Store, translate_errors
from engine.store.dialects import Dialect
from engine.store.runners import NOTHING, Claim, ClaimRequest, claim_in, claimed_rows, send_claim
from engine.store.tables import APPROVAL, EXECUTION, LOG_LINE, STEP_RUN, utcnow


@dataclass
class Batch:
    """One group commit: step runs to insert or update, log lines, execution changes."""

    step_inserts: list[dict[str, Any]]
    step_updates: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    executions: dict[int, dict[str, Any]]
    # (execution id, workflow id, status) of executions that ended, for the tallies
    finished: list[tuple[int, int, str]] = field(default_factory=list)
    # executions that ended with an approval step maybe waiting: its approval is closed
    approvals_end: list[int] = field(default_factory=list)
    owner: str | None = None  # the runner writing it: rows of executions it lost are dropped

    def __len__(self) -> int:
        return (
            len(self.step_inserts) + len(self.step_updates) + len(self.logs) + len(self.executions)
        )

    def executions_in(self) -> set[int]:
        """Every execution the batch writes to."""
        ids = {r["execution_id"] for r in (*self.step_inserts, *self.step_updates, *self.logs)}
        return ids | set(self.executions)

    def of(self, execution_id: int) -> Batch:
        """The part of the batch that writes to one execution."""
        return Batch(
            step_inserts=[r for r in self.step_inserts if r["execution_id"] == execution_id],
            step_updates=[r for r in self.step_updates if r["execution_id"] == execution_id],
            logs=[r for r in self.logs if r["execution_id"] == execution_id],
            executions={k: v for k, v in self.executions.items() if k == execution_id},
            finished=[f for f in self.finished if f[0] == execution_id],
            approvals_end=[i for i in self.approvals_end if i == execution_id],
            owner=self.owner,
        )


STEP_FIELDS = (
    "status", "started_at", "finished_at", "duration_ms", "exit_code", "output", "outputs", "error"
)  # fmt: skip
_STEP_COLUMNS = ("execution_id", "step_id", "position", "attempt", *STEP_FIELDS)
_LOG_COLUMNS = ("execution_id", "step_id", "seq", "time", "stream", "text")


def write_batch(store: Store, batch: Batch, *, portable: bool = False) -> set[int]:
    """Write one batch in one transaction (the executor's group commit).

    Returns the executions whose rows were dropped because ``batch.owner`` no longer owns
    them (another runner took them over): the fence. ``portable`` writes through
    SQLAlchemy's types instead of the driver-level statements.
    """
    return _write_batch(store, batch, portable, None)[0]


def write_batch_and_claim(
    store: Store, batch: Batch, claim: ClaimRequest, *, portable: bool = False
) -> tuple[set[int], Claim]:
    """:func:`write_batch`, and in the same transaction the claim of queued executions
    for the slots the batch frees (see :func:`engine.store.claim_started`): a worker's
    cycle then commits once, not once to end executions and once to start the next."""
    return _write_batch(store, batch, portable, claim)


def _write_batch(
    store: Store, batch: Batch, portable: bool, claim: ClaimRequest | None
) -> tuple[set[int], Claim]:
    batch = dataclasses.replace(batch)  # the fence filters this copy: a retry starts whole
    claimed = NOTHING
    with translate_errors(store):
        if store.dialect.pipelines and not portable and not batch.approvals_end:
            done = _write_pipelined(store, batch, claim)
            if done is not None:
                return done
        with store.dialect.group_commit(store.engine) as conn:
            fenced = _fence(conn, batch, store.dialect) if batch.owner is not None else set()
            if portable:
                _write_portable(conn, batch)
                _update_executions_portable(conn, batch)
            else:
                _write_fast(conn, batch, store.dialect)
                _update_executions_fast(conn, batch, store.dialect)
            if claim is not None:
                claimed = claim_in(conn, claim)
            _write_executions(conn, batch, store.dialect)
            _count_steps(conn, batch, store.dialect)
    return fenced, claimed


class _Again(Exception):
    """The pipelined batch is rolled back, to be written the careful way."""


def _write_pipelined(
    store: Store, batch: Batch, claim: ClaimRequest | None
) -> tuple[set[int], Claim] | None:
    """The batch's statements in one pipeline (one round trip, where the dialect can:
    PostgreSQL), fenced as they go; None, with nothing written, when the driver cannot
    pipeline, when the fence finds executions another runner holds now (rare: a
    take-over), or when a statement fails: then it is written the careful way, which
    reads the fence before it writes anything (and tells a failure as it is).

    The fence is in the statements: an execution the batch changes is changed only
    where this runner (or nobody) holds it, and a statement that changes fewer rows
    than it has rolls the batch back. A batch that writes to an execution without
    changing it, or changes executions in more than one statement, reads the fence
    first (every execution's row locked, in id order, as a take-over locks them: the
    two never wait for each other crosswise) and looks at it last.
    """
    dialect = store.dialect
    if not dialect.pipelines:
        return None
    try:
        with dialect.group_commit(store.engine) as conn:
            ids = batch.executions_in()
            read = batch.owner is not None and (
                not ids <= batch.executions.keys()
                or len({tuple(sorted(v)) for v in batch.executions.values()}) > 1
            )
            fence = _cursor(conn) if read else None
            claiming = _cursor(conn) if claim is not None else None
            checked: list[tuple[Any, int]] = []
            try:
                with dialect.pipelined(conn):
                    if fence is not None:
                        dialect.fence(fence, sorted(ids))
                    _write_fast(conn, batch, dialect)
                    checked = _update_executions_fast(conn, batch, dialect, batch.owner)
                    sent = send_claim(conn, claiming, claim) if claiming and claim else None
                    _write_executions(conn, batch, dialect)
                    _count_steps(conn, batch, dialect)
                held = fence.fetchall() if fence is not None else []
                short = any(cursor.rowcount != expected for cursor, expected in checked)
                rows = claiming.fetchall() if claiming is not None and sent is not None else []
            except dialect.driver_errors as exc:
                raise _Again from exc
            finally:
                for cursor in (fence, claiming, *(c for c, _ in checked)):
                    if cursor is not None:
                        cursor.close()
            if short or any(w is not None and w != batch.owner for _, w in held):
                raise _Again  # lost executions: their rows must not be written
            claimed = claimed_rows(conn, claim, sent, rows) if claim and sent else NOTHING
        return set(), claimed
    except _Again:
        return None


def _fence(conn: sa.Connection, batch: Batch, dialect: Dialect) -> set[int]:
    ids = batch.executions_in()
    if not ids:
        return set()
    # Lost: claimed by someone else since. (Unclaimed ones are nobody else's.) Every row
    # is read (and locked, where the dialect locks rows), not only those lost.
    cursor = _cursor(conn)
    try:
        dialect.fence(cursor, sorted(ids))
        lost = {
            execution_id
            for execution_id, worker in cursor.fetchall()
            if worker is not None and worker != batch.owner
        }
    finally:
        cursor.close()
    if lost:
        batch.step_inserts = [r for r in batch.step_inserts if r["execution_id"] not in lost]
        batch.step_updates = [r for r in batch.step_updates if r["execution_id"] not in lost]
        batch.logs = [r for r in batch.logs if r["execution_id"] not in lost]
        batch.executions = {k: v for k, v in batch.executions.items() if k not in lost}
        batch.finished = [f for f in batch.finished if f[0] not in lost]
        batch.approvals_end = [i for i in batch.approvals_end if i not in lost]
    return lost


def _cursor(conn: sa.Connection) -> Any:
    """The driver's own cursor on the transaction's connection (no per-statement work)."""
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def storable(text: str | None) -> str | None:
    """Text any database holds: NUL shown as ␀, a lone surrogate as �.

    PostgreSQL's text refuses NUL, and no UTF-8 holds half a surrogate pair; SQLite would
    take both. Both stores keep the same, and a step's bytes never fail a write.
    """
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\u2400")
    return _whole(text)


def _whole(text: str) -> str:
    """``text`` with each lone surrogate (half of a pair, which no UTF-8 holds) as �."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = _LONE.sub("\ufffd", text)
    return text


def _storable_value(value: Any) -> Any:
    """An output with its lone surrogates replaced (JSON escapes NUL, so it stays)."""
    if isinstance(value, str):
        return _whole(value)
    if isinstance(value, dict):
        return {_whole(str(k)): _storable_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable_value(v) for v in value]
    return value


def _json_text(value: Any) -> str | None:
    """A step's output as JSON text (NUL escaped as JSON does; no lone surrogate)."""
    if value is None:
        return None
    if type(value) is str:
        return _json_string(_whole(value))  # json.dumps for a str, without its layers
    text = json.dumps(value)
    if _SURROGATE.search(text):  # maybe a lone surrogate, escaped: PostgreSQL refuses it
        text = json.dumps(_storable_value(value))
    return text


_SURROGATE = re.compile(r"\\ud[89a-f]", re.IGNORECASE)
_LONE = re.compile("[\ud800-\udfff]")
_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii


def _step_values(r: Mapping[str, Any], time: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    started, finished = r["started_at"], r["finished_at"]
    started_text = time(started)
    return (
        r["status"],
        started_text,
        started_text if finished is started else time(finished),
        r["duration_ms"],
        r["exit_code"],
        _json_text(r["output"]),
        _json_text(r.get("outputs")),
        storable(r["error"]),
    )


def _key(mark: str) -> str:
    return f"execution_id = {mark} AND step_id = {mark} AND attempt = {mark}"


def _write_fast(conn: sa.Connection, batch: Batch, dialect: Dialect) -> None:
    """Plain multi-row statements on the driver, no per-row ORM work.

    SQLAlchemy's per-row processing holds the GIL that the trio thread needs (and with
    psycopg it sends one statement per row); this writes the same values, three to five
    times faster.
    """
    cursor = _cursor(conn)
    time = dialect.times()
    mark = dialect.mark
    try:
        if batch.step_inserts:
            flat: list[Any] = []
            add = flat.extend
            for r in batch.step_inserts:
                add((r["execution_id"], r["step_id"], r["position"], r["attempt"]))
                add(_step_values(r, time))
            dialect.insert_rows(cursor, STEP_RUN, _STEP_COLUMNS, flat)
        if batch.step_updates:
            sets = ", ".join(f"{c} = {mark}" for c in STEP_FIELDS)
            cursor.executemany(
                f"UPDATE step_run SET {sets} WHERE {_key(mark)}",
                [
                    (*_step_values(r, time), r["execution_id"], r["step_id"], r["attempt"])
                    for r in batch.step_updates
                ],
            )
        if batch.logs:
            flat = []
            add = flat.extend
            for r in batch.logs:
                add(
                    (
                        r["execution_id"],
                        r["step_id"],
                        r["seq"],
                        time(r["time"]),
                        r["stream"],
                        storable(r["text"]),
                    )
                )
            dialect.insert_rows(cursor, LOG_LINE, _LOG_COLUMNS, flat)
        processes = _processes((*batch.step_inserts, *batch.step_updates))
        if processes:
            cursor.executemany(
                f"UPDATE step_run SET host = {mark}, pid = {mark} WHERE {_key(mark)}", processes
            )
    finally:
        cursor.close()


def _processes(rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    # Where a shell step's process group runs: only shell steps have one, so it is
    # written apart, and the rows of every other step carry nothing more.
    return [
        (r["host"], r["pid"], r["execution_id"], r["step_id"], r["attempt"])
        for r in rows
        if r.get("pid") is not None
    ]


_ONE_STEP_RUN = STEP_RUN.update().where(
    STEP_RUN.c.execution_id == sa.bindparam("k_execution_id"),
    STEP_RUN.c.step_id == sa.bindparam("k_step_id"),
    STEP_RUN.c.attempt == sa.bindparam("k_attempt"),
)
_STEP_UPDATE = _ONE_STEP_RUN.values({f: sa.bindparam(f) for f in STEP_FIELDS})
_PROCESS_UPDATE = _ONE_STEP_RUN.values(host=sa.bindparam("p_host"), pid=sa.bindparam("p_pid"))


def _portable_step(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **r,
        "error": storable(r["error"]),
        "output": _storable_value(r["output"]),
        "outputs": _storable_value(r.get("outputs")),
    }


def _write_portable(conn: sa.Connection, batch: Batch) -> None:
    if batch.step_inserts:
        conn.execute(STEP_RUN.insert(), [_portable_step(r) for r in batch.step_inserts])
    if batch.step_updates:
        conn.execute(
            _STEP_UPDATE,
            [
                {
                    "k_execution_id": r["execution_id"],
                    "k_step_id": r["step_id"],
                    "k_attempt": r["attempt"],
                    **{f: v for f, v in _portable_step(r).items() if f in STEP_FIELDS},
                }
                for r in batch.step_updates
            ],
        )
    if batch.logs:
        conn.execute(LOG_LINE.insert(), [{**r, "text": storable(r["text"])} for r in batch.logs])
    processes = _processes(batch.step_updates)  # inserted rows carry theirs already
    if processes:
        keys = ("p_host", "p_pid", "k_execution_id", "k_step_id", "k_attempt")
        conn.execute(_PROCESS_UPDATE, [dict(zip(keys, p, strict=True)) for p in processes])


def _update_executions_fast(
    conn: sa.Connection, batch: Batch, dialect: Dialect, held_by: str | None = None
) -> list[tuple[Any, int]]:
    """The executions' changes as one statement per shape of change (a start, an end,
    both): a batch ending many executions costs a statement, not one each.

    ``held_by``: each row is changed only where that runner (or nobody) holds it, and
    each statement's cursor is returned, open, with how many rows it was to change
    (for the caller to compare with its rowcount, and close); otherwise none is."""
    if not batch.executions:
        return []
    time = dialect.times()
    shapes: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for execution_id, values in batch.executions.items():
        columns = tuple(sorted(values))
        shapes.setdefault(columns, []).append(
            (*(_execution_value(c, values[c], time) for c in columns), execution_id)
        )
    checked: list[tuple[Any, int]] = []
    try:
        for columns, rows in shapes.items():
            cursor = _cursor(conn)
            checked.append((cursor, len(rows)))
            dialect.update_rows(cursor, EXECUTION, columns, rows, held_by=held_by)
    except BaseException:
        _close(checked)
        raise
    if held_by is None:
        _close(checked)
        return []
    return checked


def _close(cursors: Iterable[tuple[Any, int]]) -> None:
    for cursor, _rows in cursors:
        cursor.close()


def _execution_value(column: str, value: Any, time: Callable[[datetime | None], Any]) -> Any:
    if isinstance(value, datetime):
        return time(value)
    if column == "error":
        return storable(value)
    return value


def _update_executions_portable(conn: sa.Connection, batch: Batch) -> None:
    for execution_id, values in batch.executions.items():
        if values.get("error") is not None:
            values = {**values, "error": storable(values["error"])}
        conn.execute(EXECUTION.update().where(EXECUTION.c.id == execution_id).values(values))


def _write_executions(conn: sa.Connection, batch: Batch, dialect: Dialect) -> None:
    """What ended executions change beyond their own rows: the tallies, the approvals."""
    tally: dict[int, list[int]] = {}
    for _execution_id, workflow_id, status in batch.finished:
        if status == ExecutionStatus.SUCCEEDED or status in FAILURES:
            counts = tally.setdefault(workflow_id, [0, 0])
            counts[0] += 1
            counts[1] += status == ExecutionStatus.SUCCEEDED
    if batch.approvals_end:
        _close_approvals(conn, batch)
    if tally:
        # Into this runner's own rows (``tally``): on the workflow's row, two workers'
        # batches would each wait for the other's commit. (Only for a workflow still
        # there: a removed one's ends count nowhere, as its executions are gone.)
        mark = dialect.mark
        cursor = _cursor(conn)
        runner = batch.owner or ""
        try:
            cursor.executemany(
                "INSERT INTO tally (workflow_id, runner, runs, succeeded)"
                f" SELECT id, {mark}, {mark}, {mark} FROM workflow WHERE id = {mark}"
                " ON CONFLICT (workflow_id, runner) DO UPDATE SET"
                " runs = tally.runs + excluded.runs,"
                " succeeded = tally.succeeded + excluded.succeeded",
                [(runner, runs, ok, wid) for wid, (runs, ok) in sorted(tally.items())],
            )
        finally:
            cursor.close()


def _count_steps(conn: sa.Connection, batch: Batch, dialect: Dialect) -> None:
    """Add the steps this batch finished to its runner's count of this second."""
    done = sum(1 for r in (*batch.step_inserts, *batch.step_updates) if r["status"] in SETTLED)
    if done:
        second = int(utcnow().timestamp())
        mark = dialect.mark
        cursor = _cursor(conn)
        try:
            cursor.execute(
                f"INSERT INTO activity (second, runner, steps) VALUES ({mark}, {mark}, {mark})"
                " ON CONFLICT (second, runner)"
                " DO UPDATE SET steps = activity.steps + excluded.steps",
                (second, batch.owner or "", done),
            )
        finally:
            cursor.close()


def _close_approvals(conn: sa.Connection, batch: Batch) -> None:
    """The approvals still pending in executions that ended: nobody waits for them now.

    Closed with who ended the execution and how, so a decision that comes later is
    refused with the reason instead of being taken for one that mattered.
    """
    a = APPROVAL.c
    for execution_id in batch.approvals_end:
        ended = batch.executions.get(execution_id, {})
        how = str(ended.get("status", "ended")).replace("_", " ")
        why = ended.get("error")
        conn.execute(
            APPROVAL.update()
            .where(a.execution_id == execution_id, a.status == ApprovalStatus.PENDING)
            .values(
                status=ApprovalStatus.CLOSED,
                reason=storable(f"its execution {how}" + (f": {why}" if why else "")),
                decided_by=batch.owner or "wfe",
                decided_at=ended.get("finished_at") or utcnow(),
            )
        )
