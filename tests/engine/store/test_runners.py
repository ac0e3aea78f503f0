"""Heartbeats, claims, take-over and leases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import definition, store
from engine.errors import StoreRefused
from engine.store import runners, tables, writer

# Every test that takes `db` runs on SQLite and on PostgreSQL (skipped, saying why, where
# no server answers).
BACKENDS = ("sqlite", "postgresql")


def queued(db: store.Store, step: str) -> store.Execution:
    """One queued execution of a new one-step workflow ``w``."""
    store.save_workflows(db, [(definition.parse(f"name: w\nsteps:\n  - {step}\n"), None)])
    (execution,) = store.create_executions(db, store.get_workflow(db, "w"), [{}])
    return execution


def test_a_short_lease_never_takes_work_from_a_runner_with_a_longer_one(db: store.Store) -> None:
    execution = queued(db, "{id: a, log: x}")
    slow = store.Runner.new("slow", host="h", pid=1, concurrency=1)
    store.heartbeat(db, slow, lease=60)
    assert store.claim(db, "slow", 1) == [execution.id]
    with db.writer.begin() as conn:  # its last beat was 10 s ago: well within its lease
        conn.execute(
            tables.RUNNER.update()
            .where(tables.RUNNER.c.id == "slow")
            .values(heartbeat_at=store.utcnow() - timedelta(seconds=10))
        )
    assert store.take_over(db, "quick", limit=10) == {}
    assert [w.id for w in store.live_runners(db)] == ["slow"]
    with db.writer.begin() as conn:  # now its lease has run out
        conn.execute(
            tables.RUNNER.update()
            .where(tables.RUNNER.c.id == "slow")
            .values(expires_at=store.utcnow() - timedelta(seconds=1))
        )
    assert store.take_over(db, "quick", limit=10) == {execution.id: "slow"}
    assert store.live_runners(db) == []


def test_one_leader_at_a_time(db: store.Store) -> None:
    assert store.acquire_lease(db, "scheduler", "a", ttl=10)
    assert not store.acquire_lease(db, "scheduler", "b", ttl=10)
    assert store.acquire_lease(db, "scheduler", "a", ttl=10)  # renewal
    assert store.acquire_lease(db, "scheduler", "b", ttl=-1) is False
    with db.writer.begin() as conn:
        conn.exec_driver_sql("UPDATE lease SET expires_at = '2000-01-01 00:00:00.000000'")
    assert store.acquire_lease(db, "scheduler", "b", ttl=10)  # a's lease ran out


def expire(db: store.Store, runner: str, lease: float) -> None:
    """The runner's last heartbeat was a lease and a second ago."""
    now = store.utcnow()
    with db.writer.begin() as conn:
        conn.execute(
            tables.RUNNER.update()
            .where(tables.RUNNER.c.id == runner)
            .values(
                heartbeat_at=now - timedelta(seconds=lease + 1),
                expires_at=now - timedelta(seconds=1),
            )
        )


def test_a_lease_that_ran_out_while_the_taker_was_not_watching_proves_nothing(
    db: store.Store,
) -> None:
    # A lock on the whole store, a pause: every lease runs out meanwhile, the taker's too.
    execution = queued(db, "{id: a, log: x}")
    other = store.Runner.new("other", host="h", pid=1, concurrency=1)
    store.heartbeat(db, other, lease=30)
    assert store.claim(db, "other", 1) == [execution.id]
    expire(db, "other", 30)
    assert store.take_over(db, "taker", limit=10, watched=5) == {}
    assert store.take_over(db, "taker", limit=10, watched=31) == {execution.id: "other"}


def test_a_runner_known_dead_is_taken_over_whatever_its_lease(db: store.Store) -> None:
    execution = queued(db, "{id: a, log: x}")
    other = store.Runner.new("other", host="h", pid=1, concurrency=1)
    store.heartbeat(db, other, lease=3600)
    assert store.claim(db, "other", 1) == [execution.id]
    seen: list[str] = []

    def dead(runner: store.Runner) -> bool:
        seen.append(runner.id)
        return runner.host == "elsewhere"

    assert store.take_over(db, "taker", limit=10, watched=0, dead=dead) == {}
    assert seen == ["other"]
    assert store.take_over(db, "taker", limit=10, dead=lambda r: r.pid == 1) == {
        execution.id: "other"
    }


def test_a_claim_records_what_it_took_running_and_brings_the_workflows(db: store.Store) -> None:
    first, second = (queued(db, "{id: a, log: x}").id for _ in range(2))
    claim = store.claim_started(db, "r", 5)
    assert [x.id for x in claim.executions] == [first, second]  # oldest first
    for x in claim.executions:
        row = store.get_execution(db, x.id)
        assert (row.status, row.runner) == ("running", "r")
        assert row.started_at is not None and row.started_at == x.started_at
    assert set(claim.workflows) == {"w"} and claim.held == frozenset()
    assert store.claim_started(db, "other", 5).executions == []  # each claimed once


def test_a_claimed_execution_is_as_the_store_now_holds_it(db: store.Store) -> None:
    # The claim builds each record from what it set and what the row brought back.
    store.save_workflows(db, [(definition.parse("name: w\nsteps: [{id: a, log: x}]\n"), None)])
    (made,) = store.create_executions(db, store.get_workflow(db, "w"), [{"n": 1}], trigger="t")
    with db.writer.begin() as conn:  # (as a cancel asked for between queue and claim)
        conn.execute(
            tables.EXECUTION.update()
            .where(tables.EXECUTION.c.id == made.id)
            .values(cancel_requested=True)
        )
    (claimed,) = store.claim_started(db, "r", 1).executions
    assert claimed == store.get_execution(db, made.id)
    assert (claimed.params, claimed.trigger, claimed.cancel_requested) == ({"n": 1}, "t", True)


def end_of(claim: store.Claim, owner: str = "r") -> store.Batch:
    """A batch recording each of the claim's executions succeeded."""
    now = store.utcnow()
    return store.Batch(
        [],
        [],
        [],
        {x.id: {"status": "succeeded", "finished_at": now} for x in claim.executions},
        finished=[(x.id, x.workflow_id, "succeeded") for x in claim.executions],
        owner=owner,
    )


def test_a_batch_that_ends_executions_claims_the_next_in_its_transaction(
    db: store.Store,
) -> None:
    store.save_workflows(db, [(definition.parse("name: w\nsteps: [{id: a, log: x}]\n"), None)])
    made = store.create_executions(db, store.get_workflow(db, "w"), [{}] * 5)
    first = store.claim_started(db, "r", 2)
    request = store.ClaimRequest("r", 2, first.workflows)
    fenced, then = store.write_batch_and_claim(db, end_of(first), request)
    assert fenced == set()
    assert [x.id for x in then.executions] == [made[2].id, made[3].id]  # the next, in order
    assert then.workflows["w"] is first.workflows["w"]  # known: not read again
    for x in first.executions:
        assert store.get_execution(db, x.id).status == "succeeded"
    for x in then.executions:
        assert store.get_execution(db, x.id) == x and x.status == "running"
    assert store.get_workflow(db, "w").runs == 2  # the tallies, as a batch alone writes them
    # Nothing left to take: the batch still commits, and the claim comes back empty.
    rest = store.claim_started(db, "other", 5)
    assert [x.id for x in rest.executions] == [made[4].id]
    assert store.write_batch_and_claim(db, end_of(then), request)[1].executions == []


def test_a_batch_the_store_refuses_claims_nothing(db: store.Store) -> None:
    store.save_workflows(db, [(definition.parse("name: w\nsteps: [{id: a, log: x}]\n"), None)])
    made = store.create_executions(db, store.get_workflow(db, "w"), [{}] * 3)
    first = store.claim_started(db, "r", 1)
    batch = end_of(first)
    now = store.utcnow()
    step = {
        "execution_id": made[0].id, "step_id": "a", "position": 0, "attempt": 1,
        "status": "succeeded", "started_at": now, "finished_at": now, "duration_ms": 1.0,
        "exit_code": None, "output": None, "error": None, "host": None, "pid": None,
    }  # fmt: skip
    batch.step_inserts = [step, dict(step)]  # the same row twice: the database refuses it
    with pytest.raises(StoreRefused):
        store.write_batch_and_claim(db, batch, store.ClaimRequest("r", 2))
    for x in made[1:]:  # the claim went with the batch
        row = store.get_execution(db, x.id)
        assert (row.status, row.runner) == ("queued", None)
    assert store.get_execution(db, made[0].id).status == "running"


def test_a_runner_hands_back_only_what_it_holds_and_never_started(db: store.Store) -> None:
    store.save_workflows(db, [(definition.parse("name: w\nsteps: [{id: a, log: x}]\n"), None)])
    made = store.create_executions(db, store.get_workflow(db, "w"), [{}] * 4)
    mine = store.claim_started(db, "r", 2)
    theirs = store.claim_started(db, "other", 1)
    store.write_batch(db, end_of(store.Claim(mine.executions[:1], {})))  # one of mine ended
    ids = [x.id for x in (*mine.executions, *theirs.executions)]
    with db.writer.begin() as conn:  # a cancel asked for while the other was claimed
        conn.execute(
            tables.EXECUTION.update()
            .where(tables.EXECUTION.c.id == made[3].id)
            .values(cancel_requested=True, worker="r", status="running")
        )
    assert store.unclaim(db, "r", [*ids, made[3].id]) == 1
    gone = store.get_execution(db, made[3].id)
    assert (gone.status, gone.error) == ("cancelled", "cancelled before it started")
    back = store.get_execution(db, mine.executions[1].id)
    assert (back.status, back.runner, back.started_at) == ("queued", None, None)
    assert store.get_execution(db, mine.executions[0].id).status == "succeeded"
    assert store.get_execution(db, theirs.executions[0].id).runner == "other"
    claimed = store.claim_started(db, "next", 5).executions  # anyone's to claim again
    assert [x.id for x in claimed] == [back.id]


def test_a_claim_reads_a_workflow_again_only_when_it_changed(db: store.Store) -> None:
    queued(db, "{id: a, log: x}")
    (wf,) = store.claim_started(db, "r", 1).workflows.values()
    queued(db, "{id: a, log: x}")  # the same text: the same digest and version
    assert store.claim_started(db, "r", 1, known={"w": wf}).workflows["w"] is wf
    queued(db, "{id: a, log: changed}")  # a new version
    fresh = store.claim_started(db, "r", 1, known={"w": wf}).workflows["w"]
    assert fresh is not wf and fresh.version == wf.version + 1


def test_a_claim_leaves_queued_what_waits_for_a_limit(db: store.Store) -> None:
    held = queued(db, "{id: a, log: x}")
    claim = store.claim_started(db, "r", 1, held=lambda workflow: workflow.name == "w")
    assert claim.held == {held.id}
    row = store.get_execution(db, held.id)
    assert (row.status, row.runner, row.started_at) == ("queued", "r", None)
    assert claim.executions[0].status == "queued"


def limited_and_free(db: store.Store, limited: int, free: int) -> tuple[list[int], list[int]]:
    """Queued executions of a ``concurrency: 1`` workflow, then of one without a limit."""
    store.save_workflows(
        db,
        [
            (definition.parse(f"name: {name}\n{limit}steps:\n  - {{id: a, log: x}}\n"), None)
            for name, limit in (("one", "concurrency: 1\n"), ("free", ""))
        ],
    )
    return (
        [x.id for x in store.create_executions(db, store.get_workflow(db, "one"), [{}] * limited)],
        [x.id for x in store.create_executions(db, store.get_workflow(db, "free"), [{}] * free)],
    )


def test_a_claim_leaves_out_a_limited_workflow_another_runner_holds(db: store.Store) -> None:
    (first, second), (free,) = limited_and_free(db, 2, 1)
    assert [x.id for x in store.claim_started(db, "a", 1).executions] == [first]
    # Behind the limited workflow's second, the queue goes on for everyone else.
    assert [x.id for x in store.claim_started(db, "b", 5).executions] == [free]
    assert [x.id for x in store.claim_started(db, "a", 5).executions] == [second]


def test_a_claim_that_loses_a_limited_workflow_to_another_takes_what_is_behind_it(
    db: store.Store,
) -> None:
    """Two claims at once, both taking a limited workflow's oldest: the one that waited
    for the other's locks gives them back, and takes what is queued behind instead of
    coming back empty (its wake-up is spent: it would wait for the next poll)."""
    import threading
    import time

    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's claims take its write lock: two never run at once")
    limited, (free,) = limited_and_free(db, 4, 1)

    def one(workflow: store.Workflow) -> bool:
        return workflow.name == "one"

    got: list[store.Claim] = []
    with db.dialect.claiming(db.engine) as conn:
        assert conn is not None
        first = runners.claim_in(conn, store.ClaimRequest("a", 2, {}, one))
        assert [x.id for x in first.executions] == limited[:2]
        other = threading.Thread(
            target=lambda: got.append(store.claim_started(db, "b", 2, held=one))
        )
        other.start()
        time.sleep(0.5)  # b has taken the next two and waits for a's lock on their workflow
        assert not got
    other.join(timeout=10)
    (second,) = got
    assert [x.id for x in second.executions] == [free]
    assert {store.get_execution(db, i).status for i in limited[2:]} == {"queued"}


def test_a_dead_runner_s_limited_executions_are_all_taken_over_by_one_runner(
    db: store.Store,
) -> None:
    limited, (free,) = limited_and_free(db, 3, 1)
    for runner in ("dead", "a", "b"):
        store.heartbeat(db, store.Runner.new(runner, host="h", pid=1, concurrency=4))
    assert len(store.claim_started(db, "dead", 4).executions) == 4
    store.heartbeat(db, store.Runner.new("dead", host="h", pid=1, concurrency=4), stopped=True)
    assert store.take_over(db, "a", limit=1) == {limited[0]: "dead"}
    # The rest of that workflow's are a's to take (as its slots free): b leaves them.
    assert store.orphans(db, "b") == 1
    assert store.take_over(db, "b", limit=10) == {free: "dead"}
    assert store.orphans(db, "b") == 0 and store.take_over(db, "b", limit=10) == {}
    assert store.orphans(db, "a") == 2
    assert store.take_over(db, "a", limit=10) == {i: "dead" for i in limited[1:]}


def test_a_take_over_waits_for_a_batch_in_flight_and_sees_what_it_ended(
    db: store.Store,
) -> None:
    """The old runner's last batch commits the execution's end while a taker looks: the
    taker waits for it (SQLite's write lock, PostgreSQL's row locks) and takes nothing."""
    import threading
    import time

    execution = queued(db, "{id: a, log: x}")
    store.claim(db, "old", 1)
    locked, taken = threading.Event(), {}

    def taker() -> None:
        locked.wait()
        began = time.monotonic()
        taken["result"] = store.take_over(db, "taker", limit=10, dead=lambda r: True)
        taken["waited"] = time.monotonic() - began

    thread = threading.Thread(target=taker)
    thread.start()
    ended = {"status": "succeeded", "finished_at": store.utcnow()}
    with db.dialect.group_commit(db.engine) as conn:  # as write_batch does
        writer._fence(conn, store.Batch([], [], [], {execution.id: ended}, owner="old"),
                            db.dialect)  # fmt: skip
        conn.execute(
            tables.EXECUTION.update().where(tables.EXECUTION.c.id == execution.id).values(ended)
        )
        locked.set()
        time.sleep(0.5)
    thread.join(timeout=30)
    assert taken["result"] == {}
    assert taken["waited"] >= 0.3
    assert store.get_execution(db, execution.id).runner == "old"


def test_a_decision_racing_the_batch_that_ends_its_execution_is_refused(
    db: store.Store,
) -> None:
    """The last batch of an execution closes the approval it waited for while somebody
    approves it: the decision waits for the batch and is refused, never recorded on an
    execution that ended (PostgreSQL's batches take no store-wide lock)."""
    import threading
    import time

    import pytest

    from engine.errors import StoreError

    execution = queued(db, "{id: a, log: x}")
    store.claim(db, "old", 1)
    store.request_approval(db, execution.id, "gate", "w", "go?")
    locked, outcome = threading.Event(), {}

    def approve() -> None:
        locked.wait()
        with pytest.raises(StoreError, match="no longer waits for a decision") as refused:
            store.decide(db, execution.id, "gate", approve=True, reason=None, by="me")
        outcome["refused"] = refused.value

    thread = threading.Thread(target=approve)
    thread.start()
    ended = {"status": "succeeded", "finished_at": store.utcnow()}
    batch = store.Batch(
        [], [], [], {execution.id: ended}, approvals_end=[execution.id], owner="old"
    )
    with db.dialect.group_commit(db.engine) as conn:  # as write_batch does
        writer._fence(conn, batch, db.dialect)
        writer._write_executions(conn, batch, db.dialect)  # closes the approval
        locked.set()
        time.sleep(0.5)
    thread.join(timeout=30)
    assert "refused" in outcome
    assert store.get_approval(db, execution.id, "gate").status == "closed"


def test_the_claim_finds_the_queue_by_its_index_in_a_plan_prepared_once(db: store.Store) -> None:
    """A driver prepares a statement it runs often, and PostgreSQL then plans it once for
    any parameters: with the status bound as one, that plan could not use the partial
    index of what can be claimed, and sorted every queued execution at each claim."""
    import re

    from sqlalchemy.dialects import postgresql

    from engine.store import runners

    if db.dialect.name != "postgresql":
        pytest.skip("SQLite plans each statement as it runs it: no plan is kept")
    # A long queue, and a limited workflow whose executions one runner holds.
    limited_and_free(db, 2000, 3000)
    assert len(store.claim_started(db, "other", 4).executions) == 4
    sql = str(runners._CLAIM_STARTED.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    names: list[str] = []

    def numbered(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    prepared = re.sub(r"%\((\w+)\)s", numbered, sql)
    values = {"runner": "'r'", "limit": "16", "now": "now()", "status": "'running'"}
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE execution")
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(f"PREPARE claim AS {prepared}")
        args = ", ".join(values[n] for n in names)
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN EXECUTE claim({args})"))
    assert "ix_execution_claimable" in plan, plan
    # Nor is the table read whole to find the rows claimed (as IN (subquery) would be,
    # planned for any LIMIT): they are found by their ids.
    assert "Seq Scan on execution" not in plan, plan
    # Which limited workflows are held is read from what runners hold: not from every
    # queued execution (their statuses), nor from the limited workflow's whole queue.
    assert "ix_execution_held" in plan and "ix_execution_status" not in plan, plan
