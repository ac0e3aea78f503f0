from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
import trio
import trio.testing

from engine import runtime, store
from engine.errors import InvalidParams, NotFound
from engine.store import tables
from tests import callables
from tests.support import NO_POLL, add, logs_of, run, steps_of

# Every test that takes `db` runs on SQLite and on PostgreSQL (skipped, saying why, where
# no server answers).
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(autouse=True)
def _reset_callables() -> None:
    callables.reset()


# -- ordering, outputs, conditions ------------------------------------------------


@pytest.mark.trio
async def test_run_sequential_steps_records_everything(db: store.Store) -> None:
    add(
        db,
        "name: seq\nsteps:\n" + "".join(f"  - {{id: s{i}, log: 'line {i}'}}\n" for i in range(50)),
    )
    handle = await run(db, "seq")
    assert handle.status == "succeeded"
    e = store.get_execution(db, handle.id)
    assert (e.status, e.error) == ("succeeded", None)
    assert e.started_at is not None and e.finished_at is not None and e.duration_ms is not None
    assert [r.step_id for r in store.step_runs(db, handle.id)] == [f"s{i}" for i in range(50)]
    assert logs_of(db, handle.id) == [f"line {i}" for i in range(50)]


@pytest.mark.trio
async def test_outputs_flow_between_steps(db: store.Store) -> None:
    add(
        db,
        """
        name: flow
        params: {a: 2}
        steps:
          - id: sum
            python: tests.callables:add
            with: {a: "${{ params.a }}", b: 40}
          - id: shell
            run: echo "total=${{ steps.sum.output }}"
          - id: say
            log: "${{ steps.shell.output }} (${{ steps.sum.status }}) in ${{ execution.id }}"
        """,
    )
    handle = await run(db, "flow")
    assert handle.status == "succeeded"
    runs = {r.step_id: r for r in store.step_runs(db, handle.id)}
    assert runs["sum"].output == 42
    assert runs["shell"].output == "total=42" and runs["shell"].exit_code == 0
    assert runs["say"].output == f"total=42 (succeeded) in {handle.id}"


@pytest.mark.trio
async def test_if_false_skips_but_dependents_run(db: store.Store) -> None:
    add(
        db,
        """
        name: cond
        params: {notify: false}
        steps:
          - {id: tell, if: "${{ params.notify }}", log: told}
          - {id: after, log: done}
        """,
    )
    handle = await run(db, "cond")
    assert handle.status == "succeeded"
    assert steps_of(db, handle.id) == {"tell": ("skipped", 1), "after": ("succeeded", 1)}
    handle = await run(db, "cond", {"notify": True})
    assert steps_of(db, handle.id) == {"tell": ("succeeded", 1), "after": ("succeeded", 1)}


@pytest.mark.trio
async def test_failed_dependency_skips_dependents_unless_continue_on_error(db: store.Store) -> None:
    add(
        db,
        """
        name: deps
        steps:
          - {id: bad, needs: [], python: "tests.callables:boom"}
          - {id: after-bad, needs: [bad], log: never}
          - {id: later, needs: [after-bad], log: never}
          - {id: soft, needs: [], python: "tests.callables:boom", continue_on_error: true}
          - {id: after-soft, needs: [soft], log: "soft was ${{ steps.soft.status }}"}
          - {id: independent, needs: [], log: fine}
        """,
    )
    handle = await run(db, "deps")
    assert handle.status == "failed"
    assert (
        store.get_execution(db, handle.id).error
        == "step 'bad' failed: tests.callables:boom raised ValueError: the widget is broken"
    )
    assert steps_of(db, handle.id) == {
        "bad": ("failed", 1),
        "after-bad": ("skipped", 1),
        "later": ("skipped", 1),
        "soft": ("failed", 1),
        "after-soft": ("succeeded", 1),
        "independent": ("succeeded", 1),
    }
    assert "soft was failed" in logs_of(db, handle.id)


@pytest.mark.trio
async def test_only_soft_failures_still_succeed(db: store.Store) -> None:
    add(
        db,
        "name: soft\nsteps:\n  - {id: a, python: 'tests.callables:boom', continue_on_error: true}\n  - {id: b, log: x}\n",
    )
    assert (await run(db, "soft")).status == "succeeded"


# -- retries and timeouts, on a mock clock ----------------------------------------


@pytest.mark.trio
async def test_retry_waits_with_backoff_then_succeeds(
    db: store.Store, autojump_clock: trio.testing.MockClock
) -> None:
    add(
        db,
        """
        name: retry
        steps:
          - id: flaky
            python: tests.callables:flaky
            with: {key: r1, fail_times: 2}
            retry: {attempts: 4, delay: 5s, backoff: 2}
        """,
    )
    start = trio.current_time()
    handle = await run(db, "retry")
    assert handle.status == "succeeded"
    assert trio.current_time() - start == pytest.approx(15, abs=0.5)  # 5s then 10s
    attempts = [(r.attempt, r.status, r.error) for r in store.step_runs(db, handle.id)]
    assert attempts == [
        (1, "failed", "tests.callables:flaky raised RuntimeError: not yet (1)"),
        (2, "failed", "tests.callables:flaky raised RuntimeError: not yet (2)"),
        (3, "succeeded", None),
    ]
    assert store.step_runs(db, handle.id)[-1].output == "ok after 3"


@pytest.mark.trio
async def test_retry_gives_up_after_attempts(
    db: store.Store, autojump_clock: trio.testing.MockClock
) -> None:
    add(
        db,
        "name: r\nsteps:\n  - {id: f, python: 'tests.callables:flaky', with: {key: r2, fail_times: 9}, retry: {attempts: 3, delay: 1s, max_delay: 1s, backoff: 10}}\n",
    )
    start = trio.current_time()
    handle = await run(db, "r")
    assert handle.status == "failed"
    assert steps_of(db, handle.id) == {"f": ("failed", 3)}
    assert trio.current_time() - start == pytest.approx(2, abs=0.5)


@pytest.mark.trio
async def test_step_timeout(db: store.Store, autojump_clock: trio.testing.MockClock) -> None:
    add(
        db, "name: t\nsteps:\n  - {id: slow, sleep: 1h, timeout: 10s}\n  - {id: next, log: never}\n"
    )
    start = trio.current_time()
    handle = await run(db, "t")
    assert trio.current_time() - start == pytest.approx(10, abs=0.5)
    assert handle.status == "failed"
    runs = {r.step_id: r for r in store.step_runs(db, handle.id)}
    assert (runs["slow"].status, runs["slow"].error) == ("timed_out", "ran past its timeout of 10s")
    assert runs["next"].status == "skipped"
    assert (
        store.get_execution(db, handle.id).error
        == "step 'slow' timed out: ran past its timeout of 10s"
    )


@pytest.mark.trio
async def test_execution_timeout_cancels_running_steps(
    db: store.Store, autojump_clock: trio.testing.MockClock
) -> None:
    add(
        db,
        "name: t\ntimeout: 30s\nsteps:\n  - {id: a, sleep: 10s}\n  - {id: b, sleep: 1h}\n  - {id: c, log: never}\n",
    )
    handle = await run(db, "t")
    e = store.get_execution(db, handle.id)
    assert (e.status, e.error) == ("timed_out", "the execution ran past its timeout of 30s")
    assert steps_of(db, handle.id) == {
        "a": ("succeeded", 1),
        "b": ("cancelled", 1),
        "c": ("cancelled", 1),
    }


@pytest.mark.trio
async def test_an_execution_cancelled_after_its_timeout_is_recorded_timed_out(
    db: store.Store,
) -> None:
    """Its step still winds down after the deadline (a shell that ignores SIGTERM gets
    its kill grace); a cancel that comes meanwhile does not make it cancelled: it ran
    out of time first. One cancelled before its deadline is cancelled."""
    add(
        db,
        "name: t\ntimeout: 1s\nsteps:\n  - {id: a, run: \"trap '' TERM; sleep 30\"}\n",
    )
    async with runtime.open_executor(db, **{**NO_POLL, "kill_grace": 3.0}) as ex:
        late = await ex.start("t")
        await trio.sleep(1.8)  # past the deadline, in the step's kill grace
        assert ex.cancel(late.id, "cancelled by request")
        early = await ex.start("t")
        await trio.sleep(0.3)
        assert ex.cancel(early.id, "cancelled by request")
        assert await late.wait() == "timed_out"
        assert await early.wait() == "cancelled"
    assert store.get_execution(db, late.id).error == "the execution ran past its timeout of 1s"
    assert store.get_execution(db, early.id).error == "cancelled by request"


# -- limits --------------------------------------------------------------------------


@pytest.mark.trio
async def test_global_limit_caps_running_executions(db: store.Store) -> None:
    # A real clock: starting an execution waits on a thread, and a mock clock would jump.
    add(
        db,
        "name: w\nsteps:\n  - {id: t, python: 'tests.callables:track', with: {seconds: 0.2}}\n",
    )
    async with runtime.open_executor(db, max_concurrent_executions=2, **NO_POLL) as ex:
        handles = [await ex.start("w") for _ in range(6)]
        assert ex.statistics().max_concurrent_executions == 2
        for h in handles:
            await h.wait()
        assert ex.statistics().steps_done == 6
    assert callables.peak == 2
    assert all(store.get_execution(db, h.id).status == "succeeded" for h in handles)


@pytest.mark.trio
async def test_workflow_concurrency_queues_extra_executions(db: store.Store) -> None:
    add(
        db,
        "name: one\nconcurrency: 1\nsteps:\n  - {id: t, python: 'tests.callables:track', with: {seconds: 0.2}}\n",
    )
    async with runtime.open_executor(db, **NO_POLL) as ex:
        handles = [await ex.start("one") for _ in range(3)]
        for h in handles:
            await h.wait()
    assert callables.peak == 1


@pytest.mark.trio
async def test_max_parallel_steps_per_execution(
    db: store.Store, autojump_clock: trio.testing.MockClock
) -> None:
    body = "".join(
        f"  - {{id: p{i}, needs: [], python: 'tests.callables:track', with: {{seconds: 10}}}}\n"
        for i in range(10)
    )
    add(db, "name: wide\nsteps:\n" + body)
    handle = await run(db, "wide", max_parallel_steps=3)
    assert handle.status == "succeeded"
    assert callables.peak == 3


@pytest.mark.trio
async def test_an_instant_step_waits_for_a_free_slot(db: store.Store) -> None:
    # A log step never waits, but it still counts against max_parallel_steps.
    # After a, its task goes on to slow (taking the slot) and quick gets a task of its own.
    add(
        db,
        "name: two\nsteps:\n  - {id: a, sleep: 1ms}\n"
        "  - {id: slow, needs: [a], sleep: 300ms}\n  - {id: quick, needs: [a], log: hi}\n",
    )
    handle = await run(db, "two", max_parallel_steps=1)
    _, slow, quick = store.step_runs(db, handle.id)
    assert slow.started_at and slow.finished_at and quick.started_at and quick.finished_at
    assert quick.started_at >= slow.finished_at or quick.finished_at <= slow.started_at


@pytest.mark.trio
async def test_an_instant_step_that_fails_blocks_its_dependents(db: store.Store) -> None:
    add(
        db,
        """name: bad
steps:
  - {id: a, log: x}
  - {id: b, needs: [a], log: "${{ fromJSON(steps.a.output) }}"}
  - {id: c, needs: [b], log: after}
  - {id: soft, needs: [a], log: "${{ fromJSON(steps.a.output) }}", continue_on_error: true}
  - {id: d, needs: [soft], log: "soft was ${{ steps.soft.status }}"}
""",
    )
    handle = await run(db, "bad")
    assert handle.status == "failed"
    runs = {r.step_id: r for r in store.step_runs(db, handle.id)}
    assert {k: r.status for k, r in runs.items()} == {
        "a": "succeeded",
        "b": "failed",
        "c": "skipped",
        "soft": "failed",
        "d": "succeeded",
    }
    assert runs["b"].error == "fromJSON(): not JSON: Expecting value: line 1 column 1 (char 0)"
    assert runs["b"].started_at is not None and runs["b"].finished_at is not None
    assert logs_of(db, handle.id) == ["x", "soft was failed"]


@pytest.mark.trio
async def test_a_long_chain_of_instant_steps_lets_other_tasks_run(db: store.Store) -> None:
    # Instant steps yield only now and then (runtime.executor.PACE): never so rarely that a
    # neighbour (another execution, the recorder, a console) waits for the whole chain.
    add(db, "name: long\nsteps:\n" + "".join(f"  - {{id: s{i}, log: x}}\n" for i in range(3000)))
    seen: list[int] = []  # steps done, each time this task got a turn
    async with runtime.open_executor(db, **NO_POLL) as ex:
        handle = await ex.start("long")
        while not handle.finished:
            await trio.lowlevel.checkpoint()
            seen.append(ex.statistics().steps_done)
    assert handle.status == "succeeded"
    assert len({n for n in seen if 0 < n < 3000}) >= 3, seen  # turns mid-chain


# -- cancellation --------------------------------------------------------------------


@pytest.mark.trio
async def test_cancel_running_execution(
    db: store.Store, autojump_clock: trio.testing.MockClock
) -> None:
    add(
        db,
        "name: long\nsteps:\n  - {id: a, log: first}\n  - {id: b, sleep: 1h}\n  - {id: c, log: never}\n",
    )
    async with runtime.open_executor(db, **NO_POLL) as ex:
        handle = await ex.start("long")
        await trio.sleep(60)
        assert ex.cancel(handle.id, "cancelled by test")
        assert await handle.wait() == "cancelled"
        assert not ex.cancel(handle.id)
    e = store.get_execution(db, handle.id)
    assert (e.status, e.error) == ("cancelled", "cancelled by test")
    assert steps_of(db, handle.id) == {
        "a": ("succeeded", 1),
        "b": ("cancelled", 1),
        "c": ("cancelled", 1),
    }


@pytest.mark.trio
async def test_leaving_executor_on_error_cancels_and_records(db: store.Store) -> None:
    add(db, "name: long\nsteps:\n  - {id: b, sleep: 1h}\n")

    class Stop(Exception):
        pass

    with pytest.raises(Stop):
        async with runtime.open_executor(db, **NO_POLL) as ex:
            handle = await ex.start("long")
            await trio.sleep(0.05)
            raise Stop
    assert store.get_execution(db, handle.id).status == "cancelled"


@pytest.mark.trio
async def test_cancel_requested_through_the_store_is_honoured(db: store.Store) -> None:
    add(db, "name: long\nsteps:\n  - {id: b, sleep: 1h}\n")
    async with runtime.open_executor(db, cancel_poll_interval=0.05) as ex:
        handle = await ex.start("long")
        await trio.sleep(0.1)
        assert await trio.to_thread.run_sync(store.request_cancel, db, handle.id) == "running"
        with trio.fail_after(5):
            assert await handle.wait() == "cancelled"
    assert store.get_execution(db, handle.id).error == "cancelled by request"


# -- refusals before anything runs ---------------------------------------------------------


@pytest.mark.trio
async def test_start_refuses_unknown_workflow_params_and_missing_secrets(db: store.Store) -> None:
    add(db, "name: s\nparams: {a: 1}\nsecrets: [API_KEY]\nsteps:\n  - {id: x, log: y}\n")
    async with runtime.open_executor(db, environ={}, **NO_POLL) as ex:
        with pytest.raises(NotFound, match=r"^no workflow named 'nope'"):
            await ex.start("nope")
        with pytest.raises(InvalidParams, match=r"^workflow 's' has no parameter 'b'"):
            await ex.start("s", {"b": 1})
        with pytest.raises(
            InvalidParams,
            match=r"^workflow 's' needs the secret\(s\) API_KEY; set them in the environment$",
        ):
            await ex.start("s")
    assert store.list_executions(db)[1] == 0  # nothing half-created


@pytest.mark.trio
async def test_disabled_workflow_does_not_run(db: store.Store) -> None:
    add(db, "name: paused\nsteps:\n  - {id: x, log: y}\n")
    store.set_active(db, "paused", False)
    async with runtime.open_executor(db, **NO_POLL) as ex:
        with pytest.raises(InvalidParams, match="is disabled"):
            await ex.start("paused")


# -- step kinds failing clearly ---------------------------------------------------------------


@pytest.mark.trio
@pytest.mark.parametrize(
    ("step", "error"),
    [
        (
            "run: no-such-command-wfe --x",
            r"^exited with code 127: .*no-such-command-wfe: command not found$",
        ),
        (
            "python: no_such_module_wfe:main",
            r"^cannot import 'no_such_module_wfe': No module named 'no_such_module_wfe'$",
        ),
        (
            "python: tests.callables:nothing",
            r"^module 'tests.callables' has no 'nothing'$",
        ),
        (
            "python: tests.callables:not_json",
            r"^tests.callables:not_json returned object, which is not JSON$",
        ),
        (
            "python: tests.callables:add",
            r"^tests.callables:add: .*missing 2 required positional arguments: 'a' and 'b'$",
        ),
        (
            "http: {url: 'http://127.0.0.1:9/x', timeout: 5s}",
            r"^GET http://127.0.0.1:9/x: cannot connect: .*",
        ),
        ("run: 'kill -9 $$'", r"^killed by signal SIGKILL$"),
    ],
)
async def test_step_errors_are_one_clear_line(db: store.Store, step: str, error: str) -> None:
    add(db, f"name: e\nsteps:\n  - id: x\n    {step}\n")
    handle = await run(db, "e")
    (r,) = store.step_runs(db, handle.id)
    assert r.status == "failed"
    assert r.error is not None and "\n" not in r.error
    assert re.match(error, r.error), r.error


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.trio
async def test_secrets_never_reach_the_store(db: store.Store) -> None:
    secret = "hunter2-very-secret"
    add(
        db,
        """
        name: sec
        secrets: [TOKEN]
        steps:
          - id: shell
            run: echo "token=${{ secrets.TOKEN }}"; echo "$TOKEN" >&2
            env: {TOKEN: "${{ secrets.TOKEN }}"}
          - id: py
            python: tests.callables:echo
            with: {value: {"nested": "${{ secrets.TOKEN }}"}}
          - id: say
            log: "said ${{ secrets.TOKEN }}"
          - id: fail
            run: echo "bad ${{ secrets.TOKEN }}" >&2; exit 1
        """,
    )
    async with runtime.open_executor(db, environ={**os.environ, "TOKEN": secret}, **NO_POLL) as ex:
        handle = await ex.run("sec")
    assert handle.status == "failed"
    dump = db.path.read_bytes() if db.path else b""
    for suffix in ("-wal",):
        wal = Path(str(db.path) + suffix)
        if wal.exists():
            dump += wal.read_bytes()
    # Every row of every table too: on PostgreSQL there is no file here to read.
    with db.engine.connect() as conn:
        for table in tables.METADATA.sorted_tables:
            dump += repr(conn.execute(sa.select(table)).all()).encode()
    assert b"token=***" in dump  # what was written is in the dump
    assert secret.encode() not in dump
    runs = {r.step_id: r for r in store.step_runs(db, handle.id)}
    assert runs["shell"].output == "token=***"
    assert runs["py"].output == {"nested": "***"}
    assert runs["fail"].error == "exited with code 1: bad ***"
    assert "said ***" in logs_of(db, handle.id)


# -- events and statistics ---------------------------------------------------------------------


@pytest.mark.trio
async def test_listeners_hear_only_committed_changes(db: store.Store) -> None:
    add(db, "name: ev\nsteps:\n  - {id: a, log: one}\n  - {id: b, log: two}\n")
    seen: list[tuple[str, str | None, str | None, str | None]] = []
    checked: list[bool] = []

    def listener(event: runtime.Event) -> None:
        seen.append((event.kind, event.step_id, event.status, event.text))
        if event.kind == "execution" and event.status == "succeeded":
            checked.append(store.get_execution(db, event.execution_id).status == "succeeded")

    async with runtime.open_executor(db, **NO_POLL) as ex:
        ex.add_listener(listener)
        await ex.run("ev")
    assert checked == [True]
    assert ("step", "a", "succeeded", None) in seen and ("log", "b", None, "two") in seen
    assert seen[0] == ("execution", None, "running", None)


@pytest.mark.trio
async def test_statistics_is_a_frozen_record_of_running_queued_and_done(db: store.Store) -> None:
    # Two steps done, then a gate: with one execution at a time, the second one queues.
    add(
        db,
        "name: st\nsteps:\n  - {id: a, log: x}\n  - {id: b, log: x}\n"
        "  - {id: gate, python: 'tests.callables:wait_at_gate'}\n  - {id: c, log: x}\n",
    )
    async with runtime.open_executor(
        db, max_concurrent_executions=1, max_parallel_steps=3, **NO_POLL
    ) as ex:
        first = await ex.start("st")
        second = await ex.start("st")
        with trio.fail_after(10):
            await callables.reached.wait()
        during = ex.statistics()
        callables.gate.set()
        assert await first.wait() == "succeeded" and await second.wait() == "succeeded"
        after = ex.statistics()
    assert (
        during.running,
        during.queued,
        during.max_concurrent_executions,
        during.max_parallel_steps,
        during.steps_done,
    ) == (1, 1, 1, 3, 2)
    assert (after.running, after.queued, after.steps_done) == (0, 0, 8)
    assert after.steps_per_second > 0
    # A snapshot, not a view: what it said mid-run it still says, and it cannot be changed.
    assert (during.running, during.queued, during.steps_done) == (1, 1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        during.running = 0  # type: ignore[misc]
    assert during.running == 1


# -- ownership -------------------------------------------------------------------------------


@pytest.mark.trio
async def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_owner(
    db: store.Store,
) -> None:
    add(db, "name: w\nsteps:\n  - {id: a, log: x}\n")
    (execution,) = store.create_executions(db, store.get_workflow(db, "w"), [{}])
    assert store.claim(db, "old", 1) == [execution.id]
    with db.writer.begin() as conn:  # another worker took it over
        conn.execute(
            tables.EXECUTION.update()
            .where(tables.EXECUTION.c.id == execution.id)
            .values(worker="new", status="succeeded")
        )
    async with runtime.open_executor(db, owner="old", **NO_POLL) as ex:
        handle = await ex.start_existing(execution.id or 0)
        await handle.wait()
    after = store.get_execution(db, execution.id or 0)
    assert (after.status, after.runner) == ("succeeded", "new")
    assert store.step_runs(db, execution.id or 0) == []  # none of the old owner's rows landed


@pytest.mark.trio
async def test_failure_and_always_run_a_step_after_a_need_failed(db: store.Store) -> None:
    add(
        db,
        """name: hooks
params: {n: 3}
steps:
  - {id: boom, run: "exit 3"}
  - {id: after, needs: [boom], log: never}
  - {id: on-failure, needs: [boom], if: "${{ failure() }}", log: "boom failed"}
  - {id: anyway, needs: [boom], if: "always() && params.n > 2", log: anyway}
  - {id: only-ok, needs: [boom], if: "success()", log: never}
  - {id: not-now, needs: [boom], if: "failure() && params.n > 5", log: never}
  - {id: next, needs: [on-failure], log: "after the hook"}
  - {id: fine, log: "${{ params.n > 2 && 'big' || 'small' }}"}
  - {id: quiet, needs: [fine], if: "failure()", log: never}
""",
    )
    handle = await run(db, "hooks")
    assert handle.status == "failed"
    statuses = {r.step_id: r.status for r in store.step_runs(db, handle.id, latest_only=True)}
    assert statuses == {
        "boom": "failed",
        "after": "skipped",
        "on-failure": "succeeded",
        "anyway": "succeeded",
        "only-ok": "skipped",
        "not-now": "skipped",
        "next": "succeeded",
        "fine": "succeeded",
        "quiet": "skipped",  # nothing it needs failed
    }
    assert sorted(logs_of(db, handle.id)) == ["after the hook", "anyway", "big", "boom failed"]


@pytest.mark.trio
async def test_a_claimed_execution_whose_slot_went_elsewhere_shows_queued_until_it_runs(
    db: store.Store,
) -> None:
    """A claim records what it takes running; when the slot it counted went to another
    execution meanwhile (a child, a start of the console's), it is queued again, truly,
    until its slot comes."""
    add(db, "name: slow\nsteps:\n  - {id: s, run: 'sleep 0.5'}\n")
    add(db, "name: quick\nsteps:\n  - {id: a, log: x}\n")
    async with runtime.open_executor(db, owner="me", max_concurrent_executions=1, **NO_POLL) as ex:
        (queued,) = store.create_executions(db, store.get_workflow(db, "quick"), [{}])
        claim = store.claim_started(db, "me", 1)
        assert store.get_execution(db, queued.id).status == "running"
        slow = await ex.start("slow")  # takes the one slot first
        await trio.sleep(0.1)
        (handle,) = await ex.start_claimed(claim)
        assert not isinstance(handle, Exception)
        await trio.sleep(0.2)
        waiting = store.get_execution(db, queued.id)
        assert (waiting.status, waiting.started_at) == ("queued", None)
        await handle.wait()
        await slow.wait()
    done = store.get_execution(db, queued.id)
    assert done.status == "succeeded" and done.started_at is not None
    assert done.started_at >= store.get_execution(db, slow.id).finished_at


@pytest.mark.trio
async def test_a_cancel_that_comes_before_the_execution_s_task_runs_is_taken(
    db: store.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An instant step checkpoints only now and then (here: never): the start must take
    # the cancel.
    from engine.runtime import executor

    monkeypatch.setattr(executor, "PACE", 3600.0)
    add(db, "name: quick\nsteps: [{id: a, log: x}]\n")
    async with runtime.open_executor(db, **NO_POLL) as ex:
        ex._paced = executor.time.perf_counter()
        handle = await ex.start("quick")
        assert ex.cancel(handle.id, "cancelled at once")
        await handle.wait()
    done = store.get_execution(db, handle.id)
    assert (done.status, done.error) == ("cancelled", "cancelled at once")
