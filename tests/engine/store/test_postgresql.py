"""PostgreSQL: a real server (127.0.0.1:5432 here, or $WFE_TEST_POSTGRES), a new
database per test, dropped after. Skipped, saying why, where no server answers.

The store's and the runtime's tests run on PostgreSQL too (their modules' BACKENDS), and
so do the worker tests about claims (FOR UPDATE SKIP LOCKED under real workers); these
are the parts only PostgreSQL has: its session time zone, its upgrade path, its URLs,
its advisory lock, and `wfe` on it.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa
import trio

from engine import definition, runtime, store
from engine.errors import StoreError
from engine.store import tables
from tests.support import EXAMPLES, Wfe, postgres_database

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg is not installed (pip install -e '.[test]')"
)

# `db_url` (and `db`) are a new PostgreSQL database in every test here that takes one.
BACKENDS = ("postgresql",)


def _psql(url: str, *statements: str) -> list[tuple]:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        rows: list[tuple] = []
        for statement in statements:
            cursor = conn.execute(statement)
            if cursor.description:
                rows = cursor.fetchall()
        return rows


def test_plain_postgresql_urls_use_psycopg(db_url: str) -> None:
    plain = db_url.replace("postgresql+psycopg://", "postgres://")
    db = store.open_store(plain)
    try:
        assert db.engine.dialect.driver == "psycopg"
        assert store.health(db).schema_version == store.SCHEMA_VERSION
    finally:
        db.close()


def test_an_unreachable_server_is_one_clear_error() -> None:
    with pytest.raises(StoreError) as caught:
        store.open_store("postgresql://nobody@127.0.0.1:9/none")
    assert "127.0.0.1" in str(caught.value) and "\n" not in str(caught.value).strip()


def test_times_are_utc_whatever_the_server_s_time_zone(db_url: str) -> None:
    name = sa.engine.make_url(db_url).database
    _psql(db_url, f"ALTER DATABASE \"{name}\" SET timezone TO 'Pacific/Auckland'")
    db = store.open_store(db_url)
    try:
        store.save_workflows(
            db, [(definition.parse("name: w\nsteps:\n  - {id: a, log: x}\n"), None)]
        )

        async def main() -> int:
            async with runtime.open_executor(db, cancel_poll_interval=math.inf) as ex:
                return (await ex.run("w")).id

        before = store.utcnow()
        execution_id = trio.run(main)
        execution = store.get_execution(db, execution_id)
        assert execution.started_at is not None
        started = execution.started_at.replace(tzinfo=UTC)
        assert before - timedelta(seconds=5) <= started <= store.utcnow()
        # A runner whose lease ran out a second ago is taken over; one with a minute left is not.
        for worker_id, lease in (("gone", -1), ("alive", 60)):
            store.heartbeat(
                db, store.Runner.new(worker_id, host="h", pid=1, concurrency=1), lease=lease
            )
        assert [w.id for w in store.live_runners(db)] == ["alive"]
    finally:
        db.close()
    # What another client reads, in its own (Auckland) session: the same UTC instant.
    (raw,) = _psql(db_url, f"SELECT started_at FROM execution WHERE id = {execution_id}")[0]
    assert raw == execution.started_at  # an instant: shown in Auckland time, equal


def test_a_schema_1_store_on_postgresql_is_upgraded(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    db = store.open_store(db_url)
    text = "name: w\nconcurrency: 3\nsteps:\n  - {id: a, log: x}\n"
    store.save_workflows(db, [(definition.parse(text), None)])
    store.create_executions(db, store.get_workflow(db, "w"), [{}])
    store.heartbeat(db, store.Runner.new("old", host="h", pid=1, concurrency=1), lease=15)
    db.close()
    # Back to what schema 1 had: no process columns, no own leases, the old indexes.
    _psql(
        db_url,
        "ALTER TABLE step_run DROP COLUMN host, DROP COLUMN pid, DROP COLUMN outputs",
        "ALTER TABLE worker DROP COLUMN expires_at",
        "DROP INDEX ix_execution_started_status_duration",
        "CREATE INDEX ix_execution_started_at ON execution (started_at)",
        "DROP TABLE activity",
        "DROP TABLE tally",
        "DROP TABLE step_mark",
        "DROP INDEX ix_execution_parent",
        "ALTER TABLE execution DROP COLUMN parent_id, DROP COLUMN parent_step",
        "DROP INDEX ix_execution_queued_at",
        "DROP INDEX ix_execution_finished_status",
        "DROP INDEX ix_execution_workflow_runs",
        "DROP INDEX ix_execution_claimable",
        "ALTER TABLE workflow DROP COLUMN concurrency",
        "DROP INDEX ix_execution_held",
        "DROP TABLE IF EXISTS alembic_version",
        "UPDATE wfe_meta SET value = '1' WHERE key = 'schema_version'",
    )
    db = store.open_store(db_url)
    try:
        assert store.health(db).schema_version == store.SCHEMA_VERSION
        assert store.list_executions(db)[1] == 1
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    finally:
        db.close()
    assert _psql(db_url, "SELECT version_num FROM alembic_version") == [("0010",)]
    # The limit each definition sets is filled in from the definitions (schema 10).
    assert _psql(db_url, "SELECT name, concurrency FROM workflow") == [("w", 3)]
    ((lease,),) = _psql(db_url, "SELECT expires_at - heartbeat_at FROM worker")
    assert lease == timedelta(seconds=15)


def test_wfe_commands_on_postgresql(db_url: str) -> None:
    # In-process: an exception escaping a command fails the test (a traceback is a bug).
    wfe = Wfe(db_url)
    assert wfe("workflow", "add", str(EXAMPLES)).exit_code == 0
    run = wfe("run", "fan-out")
    assert run.exit_code == 0, run.output
    shown = wfe("executions", "list")
    assert "fan-out" in shown.stdout and "succeeded" in shown.stdout
    health = wfe("health")
    assert health.exit_code == 0 and "postgresql" in health.stdout


def test_the_password_never_shows(db_url: str) -> None:
    with_password = db_url.replace("postgres@", "postgres:s3cret-pw@")
    db = store.open_store(with_password)  # trust auth: the password is not checked
    try:
        assert "s3cret-pw" not in store.health(db).url
    finally:
        db.close()
    unreachable = with_password.replace("127.0.0.1:5432", "127.0.0.1:9")
    result = Wfe(unreachable)("health")
    assert result.exit_code == 1 and result.stderr.startswith("error: cannot ")
    assert "s3cret-pw" not in result.stdout + result.stderr


LEASE = 2.0  # seconds: far longer than eight threads take to reach for it


def _race(db: store.Store, round_: int, racers: int = 8) -> tuple[list[str], list[BaseException]]:
    """``racers`` threads reach for the expired leader lease at one instant."""
    import threading

    barrier = threading.Barrier(racers)
    won: list[str] = []
    errors: list[BaseException] = []

    def reach(holder: str) -> None:
        barrier.wait()
        try:
            if store.acquire_lease(db, "scheduler", holder, ttl=LEASE):
                won.append(holder)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reach, args=(f"p{round_}-{i}",)) for i in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, errors


def test_racing_read_then_write_transactions_go_one_at_a_time(db_url: str) -> None:
    # Connections reach for an expired leader lease at the same instant, round after
    # round: exactly one may win each time (on SQLite, BEGIN IMMEDIATE sees to it; on
    # PostgreSQL, the advisory lock wfe's writing transactions take).
    db = store.open_store(db_url)
    try:
        for round_ in range(3):
            won, errors = _race(db, round_)
            assert errors == [] and len(won) == 1, (round_, won, errors)
            time.sleep(LEASE + 0.1)  # the winner's lease runs out before the next round
    finally:
        db.close()


def test_queueing_is_one_statement_that_numbers_in_order_and_tells_the_runners(
    db_url: str,
) -> None:
    """Executions queued in one statement (its own transaction): ids in the order of
    their params, each as stored, the workflow's last execution set, the runners told at
    the commit; executions already claimed (a foreground run's) tell nobody."""
    from engine.store import wakeups

    db = store.open_store(db_url)
    listener = wakeups.listener(db)
    assert listener is not None
    try:
        store.save_workflows(
            db, [(definition.parse("name: w\nsteps:\n  - {id: a, log: x}\n"), None)]
        )
        wf = store.get_workflow(db, "w")
        made = store.create_executions(db, wf, [{"n": i, "s": "é'\""} for i in range(5)], "cli")
        assert [x.params for x in made] == [{"n": i, "s": "é'\""} for i in range(5)]
        assert [x.id for x in made] == sorted(x.id for x in made)
        assert made == [store.get_execution(db, x.id) for x in made]
        assert {(x.status, x.trigger, x.runner) for x in made} == {("queued", "cli", None)}
        assert store.get_workflow(db, "w").last_execution_id == made[-1].id
        conn = listener.conn  # type: ignore[attr-defined]
        conn.execute("SELECT 1")  # reads what came meanwhile
        assert [n.channel for n in conn.notifies(timeout=0.5, stop_after=1)] == [wakeups.CHANNEL]
        (mine,) = store.create_executions(db, wf, [{}], owner="me")
        assert (mine.runner, store.get_execution(db, mine.id).runner) == ("me", "me")
        assert list(conn.notifies(timeout=0.3)) == []
    finally:
        listener.close()
        db.close()


def test_queueing_waits_for_the_write_lock_and_fails_whole_for_a_removed_workflow(
    db_url: str,
) -> None:
    """The one statement takes the store's write lock before it inserts: a workflow's
    removal (which holds it, and checks that nothing is queued) never misses an
    execution queued meanwhile; one queued for a workflow removed meanwhile is refused,
    and nothing of it is kept."""
    import threading

    db = store.open_store(db_url)
    try:
        store.save_workflows(
            db, [(definition.parse("name: w\nsteps:\n  - {id: a, log: x}\n"), None)]
        )
        wf = store.get_workflow(db, "w")
        outcome: list[object] = []
        with db.writer.begin() as conn:  # holds the write lock
            queuer = threading.Thread(
                target=lambda: outcome.append(_queue_or_error(db, wf)), daemon=True
            )
            queuer.start()
            time.sleep(0.3)
            assert outcome == []  # waiting for the lock, nothing inserted
            conn.exec_driver_sql("DELETE FROM workflow WHERE name = 'w'")
        queuer.join(10)
        (refused,) = outcome
        assert isinstance(refused, StoreError)
        assert _psql(db_url, "SELECT count(*) FROM execution") == [(0,)]
    finally:
        db.close()


def _queue_or_error(db: store.Store, wf: store.Workflow) -> object:
    try:
        return store.create_executions(db, wf, [{}])
    except StoreError as exc:
        return exc


@pytest.mark.parametrize("held", [False, True], ids=["any-runner", "held-by-one"])
def test_a_batch_s_execution_changes_find_their_rows_by_index_in_a_plan_prepared_once(
    db_url: str, held: bool
) -> None:
    """psycopg prepares a batch's statements and PostgreSQL then plans each once for any
    rows. It takes the JSON rows of the executions' changes for a hundred: without their
    ids beside them as an array, that plan read the whole execution table at each batch."""
    from engine.store.dialects import postgresql
    from engine.store.tables import EXECUTION

    db = store.open_store(db_url)
    try:
        store.save_workflows(
            db, [(definition.parse("name: w\nsteps:\n  - {id: a, log: x}\n"), None)]
        )
        store.queue_many(db, store.get_workflow(db, "w"), [{}] * 5000, "test")
        sql = postgresql._update_json(EXECUTION, ("finished_at", "status"), held)
        numbered = iter(range(1, 4))
        prepared = re.sub("%s", lambda _: f"${next(numbered)}", sql)  # as the driver sends it
        rows = '\'[{"finished_at": "2026-12-02T09:00:00+00:00", "status": "succeeded", "id": 7}]\''
        args = f"{rows}, '{{7}}'" + (", 'me'" if held else "")
        plan = "\n".join(
            row[0]
            for row in _psql(
                db_url,
                "ANALYZE execution",
                "SET plan_cache_mode = force_generic_plan",
                f"PREPARE change AS {prepared}",
                f"EXPLAIN EXECUTE change({args})",
            )
        )
    finally:
        db.close()
    assert "Seq Scan on execution" not in plan, plan
    assert "execution_pkey" in plan, plan


def test_a_database_not_in_utf8_keeps_what_a_batch_writes_beyond_ascii() -> None:
    """A batch's rows go to the server as one JSON text, converted to the database's
    encoding on the way: what that encoding holds is kept (here LATIN1), in every kind
    of row a batch writes."""
    from datetime import UTC, datetime

    with postgres_database(encoding="LATIN1") as url:
        db = store.open_store(url)
        try:
            store.save_workflows(
                db, [(definition.parse("name: w\nsteps:\n  - {id: a, log: x}\n"), None)]
            )
            (x,) = store.create_executions(db, store.get_workflow(db, "w"), [{}])
            assert store.claim(db, "me", 1) == [x.id]
            t = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
            step = {
                "execution_id": x.id, "step_id": "a", "position": 0, "attempt": 1,
                "status": "failed", "started_at": t, "finished_at": t, "duration_ms": 0.1,
                "exit_code": None, "output": "café", "outputs": None, "error": "été",
            }  # fmt: skip
            log = {"execution_id": x.id, "step_id": "a", "seq": 1, "time": t, "stream": "log"}
            end = {"status": "failed", "finished_at": t, "duration_ms": 1.0, "error": "naïve"}
            batch = store.Batch(
                [step], [], [{**log, "text": "größe"}], {x.id: end}, [(x.id, x.workflow_id, "failed")],
                owner="me",
            )  # fmt: skip
            assert store.write_batch(db, batch) == set()
            (run,) = store.step_runs(db, x.id)
            assert (run.output, run.error) == ("café", "été")
            assert [line.text for line in store.log_lines(db, x.id)] == ["größe"]
            assert store.get_execution(db, x.id).error == "naïve"
        finally:
            db.close()


def test_a_value_json_has_no_form_for_is_refused_with_its_reason(db_url: str) -> None:
    """A batch's rows go as JSON text: a float it cannot write (NaN) is refused as a
    value the store cannot hold (for the recorder to fail only its execution), and
    nothing of the batch is kept."""
    from datetime import UTC, datetime

    from engine.errors import StoreRefused

    db = store.open_store(db_url)
    try:
        store.save_workflows(
            db, [(definition.parse("name: w\nsteps:\n  - {id: a, log: x}\n"), None)]
        )
        (x,) = store.create_executions(db, store.get_workflow(db, "w"), [{}])
        t = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
        end = {"status": "failed", "finished_at": t, "duration_ms": math.nan, "error": None}
        log = {"execution_id": x.id, "step_id": "a", "seq": 1, "time": t, "stream": "log"}
        batch = store.Batch([], [], [{**log, "text": "kept?"}], {x.id: end}, owner=None)
        with pytest.raises(StoreRefused, match="cannot hold"):
            store.write_batch(db, batch)
        assert store.get_execution(db, x.id).status == "queued"
        assert store.log_lines(db, x.id) == []
    finally:
        db.close()


def test_a_batch_and_a_take_over_at_once_lock_in_the_same_order(db_url: str) -> None:
    """A take-over locks the rows it takes in id order; a batch that writes to one of
    them without changing it reads its fence first, every row in id order too. So the
    two wait for each other one way only, never crosswise (a deadlock, which the server
    breaks by failing one of them a second later): here the take-over holds the lower
    row, then takes the higher while the batch waits for the lower."""
    import threading
    from datetime import UTC, datetime

    db = store.open_store(db_url)
    try:
        store.save_workflows(
            db, [(definition.parse("name: w\nsteps:\n  - {id: a, log: x}\n"), None)]
        )
        low, high = (
            x.id for x in store.create_executions(db, store.get_workflow(db, "w"), [{}] * 2)
        )
        assert store.claim(db, "old", 2) == [low, high]
        t = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
        end = {"status": "succeeded", "finished_at": t, "duration_ms": 1.0, "error": None}
        log = {"step_id": "a", "seq": 1, "time": t, "stream": "log", "text": "x"}
        batch = store.Batch(
            [], [], [{**log, "execution_id": high}], {low: end}, [(low, 1, "succeeded")], owner="old"
        )  # fmt: skip
        taker = psycopg.connect(db_url.replace("+psycopg", ""))
        # Crosswise waits would be found by the take-over's side first, and failed there.
        taker.execute("SET deadlock_timeout = '10ms'")
        taker.execute("UPDATE execution SET worker = 'new' WHERE id = %s", (low,))
        fenced: list[set[int]] = []
        writing = threading.Thread(target=lambda: fenced.append(store.write_batch(db, batch)))
        writing.start()
        time.sleep(0.3)  # the batch waits for the lower row now
        taker.execute("UPDATE execution SET worker = 'new' WHERE id = %s", (high,))
        taker.commit()
        taker.close()
        writing.join(timeout=30)
        assert fenced == [{low, high}]  # both lost: nothing of the batch was written
        assert store.get_execution(db, low).status == "queued"
        assert store.log_lines(db, high) == []
    finally:
        db.close()


def _tallied_batch(ids: list[int], owner: str) -> store.Batch:
    from datetime import datetime

    t = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    end = {"status": "succeeded", "finished_at": t, "duration_ms": 1.0, "error": None}
    return store.Batch(
        [], [], [], {i: dict(end) for i in ids}, [(i, 1, "succeeded") for i in ids], owner=owner
    )


def _waiting(db_url: str) -> bool:
    """Whether a backend of this database waits for a lock now."""
    name = db_url.rsplit("/", 1)[1]
    return bool(
        _psql(
            db_url,
            "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            f" WHERE NOT l.granted AND a.datname = '{name}'",
        )
    )


def test_two_runners_ending_one_workflow_s_executions_do_not_wait_for_each_other(
    db_url: str,
) -> None:
    """Each counts its ends in its own tally row: a batch of one runner commits while
    another runner's batch of the same workflow is still open (on the workflow's row,
    the second waited for the first's commit: at every cycle, between two workers)."""
    import threading

    from engine.store import writer

    db = store.open_store(db_url)
    try:
        store.save_workflows(
            db, [(definition.parse("name: w\nsteps:\n  - {id: a, log: x}\n"), None)]
        )
        first, second = (
            x.id or 0 for x in store.create_executions(db, store.get_workflow(db, "w"), [{}] * 2)
        )
        assert store.claim(db, "a", 1) == [first] and store.claim(db, "b", 1) == [second]
        with db.dialect.group_commit(db.engine) as conn:  # a's batch, not committed yet
            writer._update_executions_fast(conn, _tallied_batch([first], "a"), db.dialect)
            writer._write_executions(conn, _tallied_batch([first], "a"), db.dialect)
            done = threading.Thread(
                target=lambda: store.write_batch(db, _tallied_batch([second], "b"))
            )
            done.start()
            done.join(timeout=10)
            waited = done.is_alive()
        done.join(timeout=30)
        assert not waited, "b's batch waited for a's commit"
        assert store.get_workflow(db, "w").runs == 2
    finally:
        db.close()


def test_a_fold_waits_for_a_batch_adding_to_the_row_it_folds_and_keeps_its_count(
    db_url: str,
) -> None:
    """A runner's row is locked as the fold reads it: a batch of that runner adding to
    it meanwhile commits first, and the fold takes what it added too (read unlocked,
    the fold would add the old count and delete the row with the new one in it)."""
    import threading

    from engine.store import writer

    db = store.open_store(db_url)
    try:
        store.save_workflows(
            db, [(definition.parse("name: w\nsteps:\n  - {id: a, log: x}\n"), None)]
        )
        ids = [
            x.id or 0 for x in store.create_executions(db, store.get_workflow(db, "w"), [{}] * 3)
        ]
        assert store.claim(db, "gone", 3) == ids
        store.write_batch(db, _tallied_batch(ids[:1], "gone"))  # its row: 1 run
        with db.dialect.group_commit(db.engine) as conn:  # a last batch, still open
            writer._update_executions_fast(conn, _tallied_batch(ids[1:], "gone"), db.dialect)
            writer._write_executions(conn, _tallied_batch(ids[1:], "gone"), db.dialect)
            folded: list[int] = []
            fold = threading.Thread(target=lambda: folded.append(store.fold_tallies(db)))
            fold.start()
            deadline = time.monotonic() + 10
            while not _waiting(db_url) and time.monotonic() < deadline:
                time.sleep(0.01)
        fold.join(timeout=30)
        assert folded == [1]
        assert _psql(db_url, "SELECT runs, succeeded FROM workflow") == [(3, 3)]
        assert _psql(db_url, "SELECT count(*) FROM tally") == [(0,)]
        assert store.get_workflow(db, "w").runs == 3
    finally:
        db.close()


def test_adding_workflows_locks_their_rows_in_the_order_a_claim_does(db: store.Store) -> None:
    """A claim locks limited workflows' rows in id order; ``workflow add`` of the same
    two in the other order (the file's) used to lock the second first, and the two
    deadlocked: the server then failed one of them. Now it waits its turn."""
    import threading

    def text(name: str, log: str) -> str:
        return f"name: {name}\nconcurrency: 1\nsteps:\n  - {{id: a, log: {log}}}\n"

    store.save_workflows(db, [(definition.parse(text(n, "x")), None) for n in ("a", "b")])
    first, second = (store.get_workflow(db, n).id for n in ("a", "b"))
    w = tables.WORKFLOW.c
    lock = sa.select(w.id).with_for_update(key_share=True)
    outcome: list[object] = []

    def add() -> None:
        try:
            store.save_workflows(
                db, [(definition.parse(text(n, "changed")), None) for n in ("b", "a")]
            )
            outcome.append("saved")
        except Exception as exc:  # the deadlock, as the server reports it
            outcome.append(exc)

    with db.engine.connect() as conn, conn.begin():  # a claim, half-way through its locks
        conn.execute(lock.where(w.id == first))
        adding = threading.Thread(target=add)
        adding.start()
        time.sleep(0.5)  # the add waits (for "a", or, before, having taken "b")
        conn.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
        conn.execute(lock.where(w.id == second))  # the claim's next lock: no deadlock
    adding.join(timeout=30)
    assert outcome == ["saved"]
    assert {store.get_workflow(db, n).version for n in ("a", "b")} == {2}
