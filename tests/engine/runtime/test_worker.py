"""Workers as real processes on a real store, stopped with real signals.

The store is a SQLite file, and a PostgreSQL database too for the tests about claiming
(``ON_BOTH``: FOR UPDATE SKIP LOCKED under real workers). Around the workers, `wfe` runs
in-process; a foreground `wfe run` that a test kills is a real process.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import trio

from engine import definition, store
from tests.support import Wfe, alive, wait_until

ON_BOTH = pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)


def status(wfe: Wfe, execution_id: int) -> str:
    return str(json.loads(wfe("executions", "show", str(execution_id), "--json").stdout)["status"])


def queued(db: store.Store, step: str) -> store.Execution:
    """One queued execution of a new one-step workflow ``w``."""
    store.save_workflows(db, [(definition.parse(f"name: w\nsteps:\n  - {step}\n"), None)])
    (execution,) = store.create_executions(db, store.get_workflow(db, "w"), [{}])
    return execution


@ON_BOTH
def test_three_workers_run_each_of_300_executions_exactly_once(
    wfe: Wfe, db: store.Store, tmp_path: Path
) -> None:
    ticks = tmp_path / "ticks"
    wf = definition.parse(
        f'name: tick\nsteps:\n  - {{id: a, run: "echo $WFE_EXECUTION_ID >> {ticks}"}}\n'
    )
    store.save_workflows(db, [(wf, None)])
    store.create_executions(db, store.get_workflow(db, "tick"), [{}] * 300)
    workers = [wfe.start("worker", "--concurrency", "8") for _ in range(3)]
    try:
        wait_until(lambda: store.list_executions(db, status="succeeded")[1] == 300, timeout=120)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        logs = [w.communicate(timeout=30)[1] for w in workers]
    lines = ticks.read_text().split()
    assert sorted(map(int, lines)) == list(range(1, 301))  # each once, none twice
    assert store.list_executions(db, status="queued")[1] == 0
    assert store.list_executions(db, status="running")[1] == 0
    ran = [int(log.strip().splitlines()[-1].split()[-2]) for log in logs]
    assert sum(ran) == 300, logs
    assert all("Traceback" not in log and "locked" not in log for log in logs), logs


@ON_BOTH
def test_detach_queues_and_a_worker_runs_it(wfe: Wfe, tmp_path: Path) -> None:
    f = tmp_path / "hello.yaml"
    f.write_text(
        "name: hello\nparams: {who: x}\nsteps:\n  - {id: a, log: 'hi ${{ params.who }}'}\n"
    )
    wfe("workflow", "add", str(f))
    proc = wfe("run", "hello", "--detach", "-p", "who=there")
    assert proc.exit_code == 0
    execution_id = int(proc.stdout.strip())
    assert "no worker is running" in proc.stderr
    worker = wfe.start("worker")
    try:
        wait_until(lambda: status(wfe, execution_id) == "succeeded")
    finally:
        worker.send_signal(signal.SIGINT)
        worker.communicate(timeout=30)
    assert worker.returncode == 0
    assert "hi there" in wfe("logs", str(execution_id)).stdout


def test_sigterm_gives_a_grace_period_then_cancels(wfe: Wfe, tmp_path: Path) -> None:
    f = tmp_path / "slow.yaml"
    marker = tmp_path / "started"
    f.write_text(f"name: slow\nsteps:\n  - {{id: s, run: 'touch {marker}; sleep 60'}}\n")
    wfe("workflow", "add", str(f))
    execution_id = int(wfe("run", "slow", "--detach").stdout)
    worker = wfe.start("worker", "--grace", "1s")
    wait_until(marker.exists)
    sent = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=30)
    took = time.monotonic() - sent
    assert worker.returncode == 0, err
    assert took < 1 + 1 + 5, took  # the grace, a second, and the kill grace of the shell step
    shown = json.loads(wfe("executions", "show", str(execution_id), "--json").stdout)
    assert (shown["status"], shown["error"]) == ("cancelled", "cancelled: the worker stopped")
    assert "SIGTERM: no new work; 1 running" in err


def test_cancel_reaches_the_worker(wfe: Wfe, tmp_path: Path) -> None:
    f = tmp_path / "slow.yaml"
    marker = tmp_path / "started"
    group = tmp_path / "group"  # the shell's pid: its process group's id
    f.write_text(
        f"name: slow\nsteps:\n  - {{id: s, run: 'echo $$ > {group}; touch {marker}; sleep 60'}}\n"
    )
    wfe("workflow", "add", str(f))
    execution_id = int(wfe("run", "slow", "--detach").stdout)
    worker = wfe.start("worker")
    try:
        wait_until(marker.exists)
        asked = time.monotonic()
        assert "cancel requested" in wfe("cancel", str(execution_id)).stdout
        wait_until(
            lambda: status(wfe, execution_id) == "cancelled",
            timeout=10,
        )
        assert time.monotonic() - asked < 2 + 1.5  # within two seconds, and the polling
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    # Its process group is gone, the shell and anything it started. (Not pgrep for the
    # script: bash execs its last command, so no process shows "touch" even while it runs.)
    with pytest.raises(ProcessLookupError):
        os.killpg(int(group.read_text()), 0)


@ON_BOTH
def test_kill_9_mid_step_another_worker_finishes_exactly_once(
    wfe: Wfe, db: store.Store, tmp_path: Path
) -> None:
    effects = tmp_path / "effects"
    running = tmp_path / "b-running"
    f = tmp_path / "three.yaml"
    f.write_text(
        f"""name: three
steps:
  - id: a
    run: echo a >> {effects}
  - id: b
    run: |
      echo b >> {effects}
      if [ ! -e {running} ]; then touch {running}; sleep 60; fi
  - id: c
    run: echo c >> {effects}
"""
    )
    wfe("workflow", "add", str(f))
    execution_id = int(wfe("run", "three", "--detach").stdout)
    first = wfe.start("worker", "--lease", "1s")
    wait_until(running.exists)
    # Killed once b's start and process group are committed (a runner killed before that
    # is test_a_shell_its_dead_runner_never_recorded_is_found_and_ended's case).
    wait_until(lambda: any(r.step_id == "b" and r.pid for r in store.step_runs(db, execution_id)))
    # Its watcher dies first (the OOM killer, `kill -9 -1`): nothing ends its shell but
    # the runner that takes the execution over.
    kill_watcher_of(first.pid)
    first.kill()  # SIGKILL: no chance to record anything
    first.communicate(timeout=10)
    assert store.get_execution(db, execution_id).status in ("queued", "running")
    assert scripts_running(running) != ""  # its shell outlived it
    second = wfe.start("worker", "--lease", "1s")
    try:
        wait_until(lambda: store.get_execution(db, execution_id).status == "succeeded", timeout=30)
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=30)
    assert f"taking over execution {execution_id}" in err
    # a finished before the crash: never run again. b was running: run again. c once.
    assert effects.read_text().split() == ["a", "b", "b", "c"]
    attempts = [(r.step_id, r.attempt, r.status) for r in store.step_runs(db, execution_id)]
    assert attempts == [
        ("a", 1, "succeeded"),
        ("b", 1, "failed"),
        ("b", 2, "succeeded"),
        ("c", 1, "succeeded"),
    ]
    abandoned = store.step_runs(db, execution_id)[1]
    assert abandoned.error == "its runner stopped responding; taken over"
    assert abandoned.started_at is not None and abandoned.finished_at is not None
    assert abandoned.pid is not None and abandoned.host is not None
    # The dead worker's shell (still sleeping) was ended before b ran again.
    log = wfe("logs", str(execution_id)).stdout
    assert f"ended process group {abandoned.pid}, left running by attempt 1's runner" in log
    assert scripts_running(running) == ""


def test_a_killed_worker_s_step_ends_at_once_and_a_new_worker_takes_over_at_once(
    wfe: Wfe, db: store.Store, tmp_path: Path
) -> None:
    # A long lease, and no other runner alive: nothing to wait for but the watcher.
    pid_file = tmp_path / "pid"
    f = tmp_path / "slow.yaml"
    f.write_text(
        f"""name: slow
steps:
  - id: a
    run: |
      if [ ! -e {pid_file} ]; then
        sleep 45 & echo $! > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; wait
      fi
  - id: b
    log: done
"""
    )
    wfe("workflow", "add", str(f))
    execution_id = int(wfe("run", "slow", "--detach").stdout)
    first = wfe.start("worker", "--lease", "10m")
    wait_until(pid_file.exists)
    sleep = int(pid_file.read_text())
    wait_until(lambda: any(r.pid for r in store.step_runs(db, execution_id)))  # committed
    first.kill()
    first.communicate(timeout=10)
    killed = time.monotonic()
    wait_until(lambda: not alive(sleep), timeout=10)
    assert time.monotonic() - killed < 1.5  # not a lease later, not when another runner comes
    # Same host, its process gone (its start time checked, so a reused pid cannot fool
    # this): dead now, whatever the 10 minutes of its lease say.
    second = wfe.start("worker", "--lease", "10m")
    started = time.monotonic()
    try:
        wait_until(lambda: store.get_execution(db, execution_id).status == "succeeded", timeout=30)
        assert time.monotonic() - started < 10
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=30)
    assert [(r.step_id, r.attempt, r.status) for r in store.step_runs(db, execution_id)] == [
        ("a", 1, "failed"),
        ("a", 2, "succeeded"),
        ("b", 1, "succeeded"),
    ]


def test_a_paused_worker_that_lost_its_lease_runs_no_further_step(
    wfe: Wfe, db: store.Store, tmp_path: Path
) -> None:
    # SIGSTOP for 7s with a lease of 3s: another worker takes the execution over. When
    # the first one wakes, its sleep is over (it ended while it was paused, before the
    # take-over); it must not start b or c as well.
    effects = tmp_path / "effects"
    f = tmp_path / "paused.yaml"
    f.write_text(
        f"""name: paused
steps:
  - id: a
    run: |
      echo "a $WFE_RUNNER" >> {effects}
      sleep 2
  - id: b
    run: |
      echo "b $WFE_RUNNER" >> {effects}
      sleep 1
  - id: c
    run: echo "c $WFE_RUNNER" >> {effects}
"""
    )
    wfe("workflow", "add", str(f))
    first = wfe.start("worker", "--lease", "3s")
    execution_id = int(wfe("run", "paused", "--detach").stdout)
    wait_until(lambda: effects.exists() and any(
        r.pid for r in store.step_runs(db, execution_id)
    ))  # fmt: skip
    first.send_signal(signal.SIGSTOP)
    second = wfe.start("worker", "--lease", "3s")
    try:
        time.sleep(7)
        first.send_signal(signal.SIGCONT)
        wait_until(lambda: store.get_execution(db, execution_id).status == "succeeded", timeout=30)
        time.sleep(2)  # time enough for the first one to do what it should not
    finally:
        first.send_signal(signal.SIGCONT)
        for worker in (first, second):
            worker.send_signal(signal.SIGTERM)
        _, first_err = first.communicate(timeout=30)
        second.communicate(timeout=30)
    lines = [line.split() for line in effects.read_text().splitlines()]
    owners = {step: runner for step, runner in lines if step != "a"}
    assert [step for step, _ in lines] == ["a", "a", "b", "c"]  # b and c once each
    assert owners["b"] == owners["c"] == lines[1][1] != lines[0][1]  # by the second one
    assert f"execution {execution_id} was taken over by another runner" in first_err
    assert first.returncode == 0  # it lost one execution, not its life


def kill_watcher_of(pid: int) -> None:
    """SIGKILL the watcher of runner ``pid`` (see engine/steps/reaper.py)."""
    wait_until(lambda: watcher_of(pid) is not None, timeout=10)
    watcher = watcher_of(pid)
    assert watcher is not None
    os.kill(watcher, signal.SIGKILL)
    wait_until(lambda: not alive(watcher), timeout=10)


def watcher_of(pid: int) -> int | None:
    found = subprocess.run(
        ["pgrep", "-f", f"reaper.py {pid} "], capture_output=True, text=True
    ).stdout.split()
    return int(found[0]) if found else None


def scripts_running(marker: Path) -> str:
    """The pids of processes running a step script that mentions ``marker``."""
    found = subprocess.run(["pgrep", "-f", f"touch {marker}"], capture_output=True, text=True)
    return found.stdout.strip()


APPROVAL = """name: deploy
steps:
  - id: build
    log: built
  - id: gate
    approval: {{prompt: "Ship build to production?", timeout: {timeout}}}
  - id: ship
    log: "shipping, approved by ${{{{ steps.gate.output.approved_by }}}}"
"""


def test_approval_decided_from_a_second_process_while_the_worker_waits(
    wfe: Wfe, tmp_path: Path
) -> None:
    f = tmp_path / "deploy.yaml"
    f.write_text(APPROVAL.format(timeout="1h"))
    wfe("workflow", "add", str(f))
    execution_id = int(wfe("run", "deploy", "--detach").stdout)
    worker = wfe.start("worker", "--concurrency", "1")
    try:
        wait_until(lambda: "Ship build to production?" in wfe("approvals").stdout)
        shown = json.loads(wfe("executions", "show", str(execution_id), "--json").stdout)
        assert {s["step_id"]: s["status"] for s in shown["steps"]}["gate"] == "waiting"
        # It holds no slot: another execution runs on this one-slot worker meanwhile.
        other = int(wfe("run", "deploy", "--detach").stdout)
        wait_until(
            lambda: (
                "waiting"
                in json.dumps(
                    json.loads(wfe("executions", "show", str(other), "--json").stdout)["steps"]
                )
            )
        )
        assert wfe("approve", str(execution_id), "gate", "--reason", "looks good").exit_code == 0
        wait_until(lambda: status(wfe, execution_id) == "succeeded")
        proc = wfe("approve", str(execution_id), "gate")
        assert proc.exit_code == 1 and "was already approved" in proc.stderr
        assert wfe("reject", str(other), "gate", "--reason", "not today").exit_code == 0
        wait_until(lambda: status(wfe, other) == "failed")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    log = wfe("logs", str(execution_id)).stdout
    assert "shipping, approved by " in log
    failed = json.loads(wfe("executions", "show", str(other), "--json").stdout)
    assert failed["error"].startswith("step 'gate' failed: rejected by ") and failed[
        "error"
    ].endswith(": not today")


def test_a_waiting_approval_survives_a_restart(wfe: Wfe, tmp_path: Path) -> None:
    f = tmp_path / "deploy.yaml"
    f.write_text(APPROVAL.format(timeout="1h"))
    wfe("workflow", "add", str(f))
    execution_id = int(wfe("run", "deploy", "--detach").stdout)
    first = wfe.start("worker", "--lease", "1s")
    wait_until(lambda: "Ship build" in wfe("approvals").stdout)
    first.kill()
    first.communicate(timeout=10)
    assert wfe("approve", str(execution_id), "gate").exit_code == 0  # decided while nobody runs it
    second = wfe.start("worker", "--lease", "1s")
    try:
        wait_until(
            lambda: status(wfe, execution_id) == "succeeded",
            timeout=30,
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=30)


def test_a_killed_foreground_run_is_taken_over_by_a_worker(
    wfe: Wfe, db: store.Store, tmp_path: Path
) -> None:
    effects = tmp_path / "effects"
    running = tmp_path / "running"
    f = tmp_path / "two.yaml"
    f.write_text(
        f"""name: two
steps:
  - id: a
    run: |
      echo a >> {effects}
      if [ ! -e {running} ]; then touch {running}; sleep 60; fi
  - id: b
    run: echo b >> {effects}
"""
    )
    wfe("workflow", "add", str(f))
    run = wfe.start("run", "two")
    wait_until(running.exists)
    run.kill()
    run.communicate(timeout=10)
    # Its watcher ends its shell within about a second (see tests/engine/steps/test_processes.py).
    wait_until(lambda: scripts_running(running) == "", timeout=5)
    (execution,) = store.list_executions(db)[0]
    # Killed before or after its "running" was committed: either way it is leased to it.
    assert execution.status in ("queued", "running") and execution.runner is not None
    assert execution.runner.startswith("run:")
    worker = wfe.start("worker", "--lease", "1s")
    try:
        wait_until(
            lambda: store.get_execution(db, execution.id or 0).status == "succeeded", timeout=30
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    assert effects.read_text().split() == ["a", "a", "b"]
    assert scripts_running(running) == ""  # the killed run's shell was ended by the worker


def test_a_shell_its_dead_runner_never_recorded_is_found_and_ended(
    wfe: Wfe, db: store.Store, tmp_path: Path
) -> None:
    # A runner killed between starting a shell and committing its process group: nothing
    # in the store says where the shell runs, only the shell's own environment does.
    execution = queued(db, "{id: a, run: 'true'}")
    dead = store.Runner.new("run:elsewhere:1:dead00", host="h", pid=1, concurrency=1)
    store.heartbeat(db, dead, lease=1)
    assert store.claim(db, dead.id, 1) == [execution.id]
    env = {"WFE_RUNNER": dead.id, "WFE_STEP_RUN": f"{execution.id}/a/1", "PATH": "/usr/bin:/bin"}
    left = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    # The same execution id in another store (another runner): not this one's to end.
    other_env = {**env, "WFE_RUNNER": "run:elsewhere:2:other0"}
    other = subprocess.Popen(["sleep", "60"], env=other_env, start_new_session=True)
    try:
        worker = wfe.start("worker", "--lease", "1s")
        try:
            wait_until(lambda: store.get_execution(db, execution.id or 0).status == "succeeded")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.communicate(timeout=30)
        assert left.wait(timeout=5) == -signal.SIGTERM
        assert other.poll() is None
        log = wfe("logs", str(execution.id)).stdout
        assert f"ended process group {left.pid}, left running by attempt 1's runner" in log
    finally:
        for p in (left, other):
            p.kill()
            p.wait()


def test_a_claim_admits_its_executions_together_and_one_that_cannot_start_fails_alone(
    wfe: Wfe, db: store.Store, tmp_path: Path
) -> None:
    store.save_workflows(
        db,
        [
            (definition.parse("name: fine\nsteps:\n  - {id: a, log: x}\n"), None),
            (
                definition.parse(
                    "name: secretive\nsecrets: [NOT_SET_ANYWHERE]\nsteps:\n  - {id: a, log: x}\n"
                ),
                None,
            ),
        ],
    )
    fine = store.get_workflow(db, "fine")
    first = store.create_executions(db, fine, [{}] * 3)
    (bad,) = store.create_executions(db, store.get_workflow(db, "secretive"), [{}])
    last = store.create_executions(db, fine, [{}] * 3)
    worker = wfe.start("worker", "--concurrency", "16")
    try:
        wait_until(
            lambda: all(
                store.get_execution(db, e.id).status in ("succeeded", "failed")
                for e in (*first, bad, *last)
            ),
            timeout=30,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert {store.get_execution(db, e.id).status for e in (*first, *last)} == {"succeeded"}
    failed = store.get_execution(db, bad.id)
    assert failed.status == "failed" and "NOT_SET_ANYWHERE" in (failed.error or "")
    assert f"execution {bad.id} cannot run" in err and "Traceback" not in err


async def serve_until_done(db: store.Store, count: int, options: object) -> int:
    """An in-process worker on ``count`` one-step executions, stopped once all succeeded."""
    from engine.runtime import worker

    store.save_workflows(db, [(definition.parse("name: w\nsteps: [{id: a, log: x}]\n"), None)])
    store.queue_many(db, store.get_workflow(db, "w"), [{}] * count, "test")
    stop = trio.Event()

    async def when_done() -> None:
        while store.stats(db).succeeded < count:
            await trio.sleep(0.02)
        stop.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(when_done)
        assert isinstance(options, worker.WorkerOptions)
        return await worker.serve(db, options, stop=stop)


@pytest.mark.trio
async def test_a_worker_in_process_stops_when_its_stop_event_is_set(db_url: str) -> None:
    from engine.runtime import worker

    db = store.open_store(db_url)
    try:
        ran = await serve_until_done(db, 50, worker.WorkerOptions(retention=0))
        assert ran == 50
    finally:
        db.close()


@ON_BOTH
@pytest.mark.trio
async def test_a_batch_that_ends_executions_claims_the_next_one_commit_a_cycle(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.runtime import worker

    db = store.open_store(db_url)
    claims: list[int] = []  # what each claim of its own took
    claim_started = store.claim_started

    def counted(*args: object, **kwargs: object) -> store.Claim:
        claim = claim_started(*args, **kwargs)  # type: ignore[arg-type]
        claims.append(len(claim.executions))
        return claim

    monkeypatch.setattr(store, "claim_started", counted)
    try:
        options = worker.WorkerOptions(concurrency=4, retention=0)
        ran = await serve_until_done(db, 200, options)
        assert ran == 200 and store.stats(db).succeeded == 200
        # The first claim is the worker's own; after it each batch that ends executions
        # claims the next ones for their slots (without this: a claim of its own each
        # cycle, some fifty).
        assert sum(1 for n in claims if n) <= 3, claims
    finally:
        db.close()


@ON_BOTH
@pytest.mark.trio
async def test_what_the_last_batch_claimed_goes_back_to_the_queue_when_the_worker_stops(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.runtime import executor, worker

    db = store.open_store(db_url)
    store.save_workflows(db, [(definition.parse("name: w\nsteps: [{id: a, log: x}]\n"), None)])
    made = store.queue_many(db, store.get_workflow(db, "w"), [{}] * 5, "test")
    stop = trio.Event()
    first = made[0]
    opened = executor.open_executor

    def stopping_after_the_first(*args: object, **kwargs: object) -> object:
        # Stopped as the batch that ends the first execution commits: that batch has
        # claimed the second for its slot, and nobody starts it now.
        cm = opened(*args, **kwargs)  # type: ignore[arg-type]

        class Listening:
            async def __aenter__(self) -> executor.Executor:
                ex = await cm.__aenter__()
                ex.add_listener(
                    lambda e: (
                        stop.set()
                        if (e.kind, e.execution_id, e.status) == ("execution", first, "succeeded")
                        else None
                    )
                )
                return ex

            async def __aexit__(self, *exc: object) -> bool | None:
                return await cm.__aexit__(*exc)  # type: ignore[arg-type]

        return Listening()

    monkeypatch.setattr(worker, "open_executor", stopping_after_the_first)
    try:
        with trio.fail_after(30):
            ran = await worker.serve(
                db, worker.WorkerOptions(concurrency=1, retention=0), stop=stop
            )
        assert ran == 1
        assert store.get_execution(db, first).status == "succeeded"
        for execution_id in made[1:]:  # the second was claimed and handed back; none ran
            row = store.get_execution(db, execution_id)
            assert (row.status, row.runner, row.started_at) == ("queued", None, None)
            assert store.step_runs(db, execution_id) == []
    finally:
        db.close()


@ON_BOTH
def test_a_workflow_s_concurrency_holds_across_workers(wfe: Wfe, db: store.Store) -> None:
    """``concurrency: 1`` through three workers: never two of its steps at once (its
    executions go to one worker at a time), while another workflow runs beside them."""
    store.save_workflows(
        db,
        [
            (
                definition.parse(f"name: {name}\n{limit}steps:\n  - {{id: a, run: sleep 0.05}}\n"),
                None,
            )
            for name, limit in (("one", "concurrency: 1\n"), ("free", ""))
        ],
    )
    workers = [wfe.start("worker", "--concurrency", "4") for _ in range(3)]
    try:
        # All three up first: one started late would find the other workflow's done.
        wait_until(lambda: len(store.live_runners(db)) == 3, timeout=30)
        store.create_executions(db, store.get_workflow(db, "one"), [{}] * 30)
        store.create_executions(db, store.get_workflow(db, "free"), [{}] * 30)
        wait_until(lambda: store.stats(db).succeeded == 60, timeout=120)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        logs = [w.communicate(timeout=30)[1] for w in workers]
    spans = sorted(
        (step.started_at, step.finished_at)
        for x in store.list_executions(db, workflow="one", limit=100)[0]
        for step in store.step_runs(db, x.id)
    )
    assert len(spans) == 30
    for (_, ended), (began, _) in itertools.pairwise(spans):
        assert ended is not None and began is not None and ended <= began, spans
    free = store.list_executions(db, workflow="free", limit=100)[0]
    assert len({x.runner for x in free}) > 1  # the rest is shared out as ever
    assert all("Traceback" not in log for log in logs), logs


@ON_BOTH
def test_a_limited_workflow_at_the_head_of_the_queue_holds_nothing_else_up(
    wfe: Wfe, db: store.Store
) -> None:
    """The oldest queued executions are a ``concurrency: 1`` workflow's, held by one
    worker: the other workers run what is queued behind them meanwhile, and do not wait
    for the limited workflow to drain (its rows are left out of their claims)."""
    store.save_workflows(
        db,
        [
            (
                definition.parse(f"name: {name}\n{limit}steps:\n  - {{id: a, run: {run}}}\n"),
                None,
            )
            for name, limit, run in (
                ("one", "concurrency: 1\n", "sleep 0.2"),
                ("free", "", "sleep 0.02"),
            )
        ],
    )
    assert store.get_workflow(db, "one").concurrency == 1
    workers = [wfe.start("worker", "--concurrency", "4") for _ in range(3)]
    try:
        wait_until(lambda: len(store.live_runners(db)) == 3, timeout=30)
        store.create_executions(db, store.get_workflow(db, "one"), [{}] * 30)  # 6 s at least
        store.create_executions(db, store.get_workflow(db, "free"), [{}] * 40)
        wait_until(
            lambda: len(store.list_executions(db, workflow="free", status="succeeded")[0]) == 40,
            timeout=60,
        )
        # All of those ran while most of the limited workflow's still waited.
        done = store.list_executions(db, workflow="one", status="succeeded", limit=100)[0]
        assert len(done) < 20, len(done)
        wait_until(lambda: store.stats(db).succeeded == 70, timeout=60)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        logs = [w.communicate(timeout=30)[1] for w in workers]
    assert all("Traceback" not in log for log in logs), logs


@ON_BOTH
def test_a_busy_worker_takes_a_dead_worker_s_executions_over_before_the_queue(
    wfe: Wfe, db: store.Store
) -> None:
    """What a killed worker held is taken over within a heartbeat or two while the queue
    is long (the survivor's freed slots go to it first), not once the queue is drained."""
    wf = definition.parse('name: q\nsteps:\n  - {id: a, run: "sleep 0.05"}\n')
    store.save_workflows(db, [(wf, None)])

    def held_by(runner: str) -> list[int]:
        running = store.list_executions(db, status="running", limit=100)[0]
        return [x.id for x in running if x.runner == runner]

    workers = [wfe.start("worker", "--concurrency", "4") for _ in range(2)]
    try:
        wait_until(lambda: len(store.live_runners(db)) == 2, timeout=30)
        (victim,) = [r.id for r in store.live_runners(db) if r.pid == workers[0].pid]
        store.create_executions(db, store.get_workflow(db, "q"), [{}] * 2000)
        wait_until(lambda: len(held_by(victim)) == 4)
        orphans = held_by(victim)
        workers[0].kill()
        workers[0].communicate(timeout=10)
        killed = time.monotonic()
        wait_until(lambda: not held_by(victim), timeout=40)
        assert time.monotonic() - killed < 8  # a heartbeat (2 s) or two
        assert store.stats(db).queued > 1000  # while the queue is still long
        wait_until(
            lambda: {store.get_execution(db, i).status for i in orphans} == {"succeeded"},
            timeout=30,
        )
    finally:
        workers[1].send_signal(signal.SIGTERM)
        log = workers[1].communicate(timeout=60)[1]
    assert all(f"taking over execution {i} from {victim}" in log for i in orphans), log
    assert "Traceback" not in log, log


@ON_BOTH
def test_a_burst_of_3000_through_three_workers_survives_a_kill_9(
    wfe: Wfe, db: store.Store, tmp_path: Path
) -> None:
    """3,000 executions at once through three workers, one killed with SIGKILL a third
    of the way: none is lost, each is claimed once (taken over once if the dead worker
    held it), and no step recorded before the kill runs again."""
    effects = tmp_path / "effects"
    wf = definition.parse(
        "name: burst\nsteps:\n"
        # a step that takes a moment: the one killed always dies holding some
        f'  - {{id: a, run: "echo $WFE_EXECUTION_ID $WFE_RUNNER >> {effects}; sleep 0.02"}}\n'
    )
    store.save_workflows(db, [(wf, None)])
    workers = [wfe.start("worker", "--concurrency", "8") for _ in range(3)]
    try:
        wait_until(lambda: len(store.live_runners(db)) == 3, timeout=30)
        (victim,) = [r.id for r in store.live_runners(db) if r.pid == workers[0].pid]
        store.create_executions(db, store.get_workflow(db, "burst"), [{}] * 3000)
        wait_until(lambda: store.stats(db).succeeded >= 1000, timeout=120)
        wait_until(
            lambda: victim in {x.runner for x in store.list_executions(db, status="running")[0]}
        )
        workers[0].kill()
        workers[0].communicate(timeout=10)
        with db.engine.connect() as conn:  # what was recorded when it died
            recorded = {
                row[0]
                for row in conn.exec_driver_sql(
                    "SELECT execution_id FROM step_run WHERE status = 'succeeded'"
                )
            }
        wait_until(lambda: store.stats(db).succeeded == 3000, timeout=180)
    finally:
        for w in workers[1:]:
            w.send_signal(signal.SIGTERM)
        logs = [w.communicate(timeout=60)[1] for w in workers[1:]]
    assert store.stats(db).queued == store.stats(db).running == 0
    runs: dict[int, list[str]] = {}
    for line in effects.read_text().splitlines():
        execution_id, runner = line.split()
        runs.setdefault(int(execution_id), []).append(runner)
    ids = [x.id for x in store.list_executions(db, limit=3000)[0]]
    assert sorted(runs) == sorted(ids)  # none lost
    twice = {i: r for i, r in runs.items() if len(r) > 1}
    # Run again only where the dead worker ran it and died before recording its end:
    # first by the victim, then once by whoever took it over; never one recorded.
    assert len(twice) <= 8, twice
    for execution_id, by in twice.items():
        assert len(by) == 2 and by[0] == victim != by[1], (execution_id, by)
        assert execution_id not in recorded
    assert all(len(runs[i]) == 1 for i in recorded)
    for x in ids:
        attempts = store.step_runs(db, x)
        assert [r.status for r in attempts].count("succeeded") == 1, attempts
    assert "taking over execution" in "".join(logs)  # it died holding some
    assert all("Traceback" not in log for log in logs), logs
