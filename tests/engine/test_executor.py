from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from engine import runtime, store
from engine.errors import InvalidParams, NotFound
from tests.conftest import add
from tests.engine import helpers

# Every test that takes `db` runs on SQLite and on PostgreSQL (skipped, saying why, where
# no server answers).
BACKENDS = ("sqlite", "postgresql")

NO_POLL = {"cancel_poll_interval": math.inf}


@pytest.fixture(autouse=True)
def _reset_helpers() -> None:
    helpers.reset()


def steps_of(db: store.Store, execution_id: int) -> dict[str, tuple[str, int]]:
    return {
        r.step_id: (r.status, r.attempt)
        for r in store.step_runs(db, execution_id, latest_only=True)
    }


def logs_of(db: store.Store, execution_id: int) -> list[str]:
    return [line.text for line in store.log_lines(db, execution_id)]


async def run(
    db: store.Store, name: str, params: dict[str, Any] | None = None, **kw: Any
) -> runtime.ExecutionHandle:
    async with runtime.open_executor(db, **{**NO_POLL, **kw}) as ex:
        return await ex.run(name, params)


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
            python: tests.engine.helpers:add
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
          - {id: bad, needs: [], python: "tests.engine.helpers:boom"}
          - {id: after-bad, needs: [bad], log: never}
          - {id: later, needs: [after-bad], log: never}
          - {id: soft, needs: [], python: "tests.engine.helpers:boom", continue_on_error: true}
          - {id: after-soft, needs: [soft], log: "soft was ${{ steps.soft.status }}"}
          - {id: independent, needs: [], log: fine}
        """,
    )
    handle = await run(db, "deps")
    assert handle.status == "failed"
    assert (
        store.get_execution(db, handle.id).error
        == "step 'bad' failed: tests.engine.helpers:boom raised ValueError: the widget is broken"
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
        "name: soft\nsteps:\n  - {id: a, python: 'tests.engine.helpers:boom', continue_on_error: true}\n  - {id: b, log: x}\n",
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
            python: tests.engine.helpers:flaky
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
        (1, "failed", "tests.engine.helpers:flaky raised RuntimeError: not yet (1)"),
        (2, "failed", "tests.engine.helpers:flaky raised RuntimeError: not yet (2)"),
        (3, "succeeded", None),
    ]
    assert store.step_runs(db, handle.id)[-1].output == "ok after 3"


@pytest.mark.trio
async def test_retry_gives_up_after_attempts(
    db: store.Store, autojump_clock: trio.testing.MockClock
) -> None:
    add(
        db,
        "name: r\nsteps:\n  - {id: f, python: 'tests.engine.helpers:flaky', with: {key: r2, fail_times: 9}, retry: {attempts: 3, delay: 1s, max_delay: 1s, backoff: 10}}\n",
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


# -- limits --------------------------------------------------------------------------


@pytest.mark.trio
async def test_global_limit_caps_running_executions(db: store.Store) -> None:
    # A real clock: starting an execution waits on a thread, and a mock clock would jump.
    add(
        db,
        "name: w\nsteps:\n  - {id: t, python: 'tests.engine.helpers:track', with: {seconds: 0.2}}\n",
    )
    async with runtime.open_executor(db, max_concurrent_executions=2, **NO_POLL) as ex:
        handles = [await ex.start("w") for _ in range(6)]
        assert ex.statistics().max_concurrent_executions == 2
        for h in handles:
            await h.wait()
        assert ex.statistics().steps_done == 6
    assert helpers.peak == 2
    assert all(store.get_execution(db, h.id).status == "succeeded" for h in handles)


@pytest.mark.trio
async def test_workflow_concurrency_queues_extra_executions(db: store.Store) -> None:
    add(
        db,
        "name: one\nconcurrency: 1\nsteps:\n  - {id: t, python: 'tests.engine.helpers:track', with: {seconds: 0.2}}\n",
    )
    async with runtime.open_executor(db, **NO_POLL) as ex:
        handles = [await ex.start("one") for _ in range(3)]
        for h in handles:
            await h.wait()
    assert helpers.peak == 1


@pytest.mark.trio
async def test_max_parallel_steps_per_execution(
    db: store.Store, autojump_clock: trio.testing.MockClock
) -> None:
    body = "".join(
        f"  - {{id: p{i}, needs: [], python: 'tests.engine.helpers:track', with: {{seconds: 10}}}}\n"
        for i in range(10)
    )
    add(db, "name: wide\nsteps:\n" + body)
    handle = await run(db, "wide", max_parallel_steps=3)
    assert handle.status == "succeeded"
    assert helpers.peak == 3


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
  - {id: b, needs: [a], log: "${{ steps.a.output > 1 }}"}
  - {id: c, needs: [b], log: after}
  - {id: soft, needs: [a], log: "${{ steps.a.output > 2 }}", continue_on_error: true}
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
    assert runs["b"].error == "cannot compare 'x' > 1"
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
            "python: tests.engine.helpers:nothing",
            r"^module 'tests.engine.helpers' has no 'nothing'$",
        ),
        (
            "python: tests.engine.helpers:not_json",
            r"^tests.engine.helpers:not_json returned object, which is not JSON$",
        ),
        (
            "python: tests.engine.helpers:add",
            r"^tests.engine.helpers:add: .*missing 2 required positional arguments: 'a' and 'b'$",
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
    import re

    assert re.match(error, r.error), r.error


# -- shell: quoting, process groups, output -----------------------------------------------------


@pytest.mark.trio
async def test_param_cannot_inject_shell_syntax(db: store.Store, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    add(
        db,
        """
        name: inject
        params: {x: safe}
        steps:
          - id: bare
            run: echo ${{ params.x }}
          - id: double
            run: |
              echo "value: ${{ params.x }}"
          - id: single
            run: |
              echo 'value: ${{ params.x }}'
          - id: mixed
            run: |
              echo pre${{ params.x }}post "a'${{ params.x }}" # ${{ params.x }}
        """,
    )
    for payload in [
        f"x; touch {pwned}",
        f"$(touch {pwned})",
        f"`touch {pwned}`",
        f"'; touch {pwned}; '",
        f'"; touch {pwned}; "',
        f"x\ntouch {pwned}",
    ]:
        handle = await run(db, "inject", {"x": payload})
        assert handle.status == "succeeded"
        assert not pwned.exists(), payload
        runs = {r.step_id: r.output for r in store.step_runs(db, handle.id)}
        assert runs["bare"] == payload
        assert runs["double"] == f"value: {payload}"
        assert runs["single"] == f"value: {payload}"
        assert runs["mixed"] == f"pre{payload}post a'{payload}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


@pytest.mark.trio
async def test_cancel_kills_the_whole_process_group(db: store.Store, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    add(
        db,
        f"""
        name: tree
        steps:
          - id: spawn
            run: |
              sleep 300 &
              echo $! >> {pids}
              bash -c 'trap "" TERM; echo $$ >> {pids}; sleep 300' &
              echo $$ >> {pids}
              wait
        """,
    )
    async with runtime.open_executor(db, kill_grace=0.5, **NO_POLL) as ex:
        handle = await ex.start("tree")
        with trio.fail_after(10):
            while not pids.exists() or len(pids.read_text().split()) < 3:
                await trio.sleep(0.02)
        ex.cancel(handle.id)
        with trio.fail_after(10):
            assert await handle.wait() == "cancelled"
    for pid in map(int, pids.read_text().split()):
        assert not _alive(pid), pid  # the TERM-ignoring child got SIGKILL after the grace


@pytest.mark.trio
async def test_no_child_outlives_a_finished_step(db: store.Store, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    add(
        db,
        f"name: orphan\nsteps:\n  - id: leave\n    run: (sleep 300 & echo $! > {pid_file}) ; echo started\n",
    )
    with trio.fail_after(15):
        handle = await run(db, "orphan", kill_grace=0.5)
    assert handle.status == "succeeded"
    assert not _alive(int(pid_file.read_text()))


@pytest.mark.trio
async def test_shell_step_timeout_terminates(db: store.Store) -> None:
    add(db, "name: slow\nsteps:\n  - {id: s, run: sleep 30, timeout: 300ms}\n")
    with trio.fail_after(10):
        handle = await run(db, "slow")
    assert steps_of(db, handle.id) == {"s": ("timed_out", 1)}


@pytest.mark.trio
async def test_output_is_capped_and_lines_stream_to_the_log(db: store.Store) -> None:
    add(
        db,
        "name: big\nsteps:\n  - {id: s, run: \"for i in 1 2 3; do echo line $i; echo err $i >&2; done; head -c 200000 /dev/zero | tr '\\\\0' a\"}\n",
    )
    handle = await run(db, "big")
    (r,) = store.step_runs(db, handle.id)
    assert r.output.startswith("line 1\nline 2\nline 3\naaaa")
    assert r.output.endswith("the first 65,536 kept]")
    lines = [(line.stream, line.text) for line in store.log_lines(db, handle.id)]
    assert [t for s, t in lines if s == "stderr"] == ["err 1", "err 2", "err 3"]
    assert [t for s, t in lines if s == "stdout"][:3] == ["line 1", "line 2", "line 3"]


@pytest.mark.trio
async def test_a_quick_command_s_output_is_read_whole(db: store.Store) -> None:
    # Over before shell.QUICK: both pipes are read at its end, partial last lines too.
    add(db, "name: q\nsteps:\n  - {id: s, run: \"printf 'a\\\\nb'; printf 'e1\\\\ne2' >&2\"}\n")
    handle = await run(db, "q")
    (r,) = store.step_runs(db, handle.id)
    assert (r.status, r.output) == ("succeeded", "a\nb")
    lines = [(line.stream, line.text) for line in store.log_lines(db, handle.id)]
    assert sorted(lines) == [("stderr", "e1"), ("stderr", "e2"), ("stdout", "a"), ("stdout", "b")]


@pytest.mark.trio
async def test_a_command_reading_stdin_reads_nothing(db: store.Store) -> None:
    # stdin is /dev/null (shared by every shell, never the terminal's or a pipe's).
    add(
        db,
        "name: r\nsteps:\n  - {id: a, run: 'cat; echo done'}\n  - {id: b, run: 'cat; echo again'}\n",
    )
    with trio.fail_after(10):
        handle = await run(db, "r")
    assert [(r.status, r.output) for r in store.step_runs(db, handle.id)] == [
        ("succeeded", "done"),
        ("succeeded", "again"),
    ]


@pytest.mark.trio
async def test_a_long_command_s_output_reaches_the_log_while_it_runs(
    db: store.Store, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    add(
        db,
        f"name: live\nsteps:\n  - id: s\n    run: echo first; "
        f"while [ ! -e {gate} ]; do sleep 0.02; done; echo second\n",
    )
    async with runtime.open_executor(db, **NO_POLL) as ex:
        handle = await ex.start("live")
        with trio.fail_after(10):
            while logs_of(db, handle.id) != ["first"]:
                await trio.sleep(0.02)
        assert not handle.finished
        gate.touch()
        await handle.wait()
    assert logs_of(db, handle.id) == ["first", "second"]


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
            python: tests.engine.helpers:echo
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
async def test_statistics_is_a_frozen_record(db: store.Store) -> None:
    add(db, "name: st\nsteps:\n" + "".join(f"  - {{id: s{i}, log: x}}\n" for i in range(20)))
    async with runtime.open_executor(
        db, max_concurrent_executions=7, max_parallel_steps=3, **NO_POLL
    ) as ex:
        await ex.run("st")
        stats = ex.statistics()
    assert (
        stats.running,
        stats.queued,
        stats.max_concurrent_executions,
        stats.max_parallel_steps,
        stats.steps_done,
    ) == (0, 0, 7, 3, 20)
    assert stats.steps_per_second > 0
    with pytest.raises(AttributeError):
        stats.running = 1  # type: ignore[misc]


def test_signal_module_is_posix() -> None:
    # Process groups and SIGTERM/SIGKILL are what the shell step relies on.
    assert hasattr(signal, "SIGKILL") and hasattr(os, "killpg")
