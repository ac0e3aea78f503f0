"""An operator's controls on steps: mark one settled while it runs, re-run only one."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import trio

from engine import runtime, store
from engine.errors import EngineError, NotFound
from tests.support import Wfe, add, run, steps_of, wait_until

BACKENDS = ("sqlite", "postgresql")


async def until(predicate, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    with trio.fail_after(timeout):
        while not await trio.to_thread.run_sync(predicate):
            await trio.sleep(0.02)


STUCK = """
name: stuck
steps:
  - id: hang
    run: "echo $$ > {group}; sleep 60"
    retry: {{attempts: 3}}
  - id: after
    log: "went on after ${{{{ steps.hang.status }}}}"
  - id: later
    needs: []
    run: "sleep 60"
  - id: last
    needs: [later]
    log: never
"""


@pytest.mark.trio
async def test_marking_a_running_step_ends_it_and_its_dependants_go_on(
    db: store.Store, tmp_path: Path
) -> None:
    group = tmp_path / "group"
    add(db, STUCK.format(group=group))
    async with runtime.open_executor(db, cancel_poll_interval=0.05) as ex:
        handle = await ex.start("stuck")
        await until(lambda: steps_of(db, handle.id).get("hang", ("",))[0] == "running")
        await until(group.exists)
        mark = store.mark_step(db, handle.id, "hang", "succeeded", "known good", "alice@ops")
        assert mark.text == "marked succeeded by alice@ops: known good"
        await until(lambda: steps_of(db, handle.id).get("after", ("",))[0] == "succeeded")
        # A step not started yet is settled when its turn comes: `last` waits on `later`.
        store.mark_step(db, handle.id, "last", "failed", "not needed today", "bob@ops")
        store.mark_step(db, handle.id, "later", "succeeded", "done by hand", "bob@ops")
        await handle.wait()
    assert handle.status == "failed"  # `last` was marked failed
    runs = {r.step_id: r for r in store.step_runs(db, handle.id, latest_only=True)}
    assert (runs["hang"].status, runs["hang"].attempt) == ("succeeded", 1)  # no retry
    assert runs["hang"].error == "marked succeeded by alice@ops: known good"
    assert runs["hang"].duration_ms is not None
    assert (runs["last"].status, runs["last"].error) == (
        "failed",
        "marked failed by bob@ops: not needed today",
    )
    assert [line.text for line in store.log_lines(db, handle.id, step_id="after")] == [
        "went on after succeeded"
    ]
    with pytest.raises(ProcessLookupError):  # its shell was ended with the attempt
        os.killpg(int(group.read_text()), 0)
    e = store.get_execution(db, handle.id)
    assert e.error == "step 'last' failed: marked failed by bob@ops: not needed today"


@pytest.mark.trio
async def test_a_mark_is_refused_where_it_means_nothing(db: store.Store, tmp_path: Path) -> None:
    add(db, STUCK.format(group=tmp_path / "group"))
    add(
        db,
        "name: gate\nsteps:\n  - {id: ok, approval: 'Go?'}\n  - {id: fan, foreach: [1], log: x}\n",
    )
    async with runtime.open_executor(db, cancel_poll_interval=0.05) as ex:
        handle = await ex.start("stuck")
        await until(lambda: steps_of(db, handle.id).get("hang", ("",))[0] == "running")
        with pytest.raises(NotFound, match="has no step 'nope'"):
            store.mark_step(db, handle.id, "nope", "succeeded", "x", "me")
        with pytest.raises(EngineError, match="say why"):
            store.mark_step(db, handle.id, "hang", "succeeded", "  ", "me")
        with pytest.raises(EngineError, match="succeeded or failed, not 'skipped'"):
            store.mark_step(db, handle.id, "hang", "skipped", "x", "me")
        gate = await ex.start("gate")
        await until(lambda: steps_of(db, gate.id).get("ok", ("",))[0] == "waiting")
        with pytest.raises(EngineError, match="waits for a decision: wfe approve"):
            store.mark_step(db, gate.id, "ok", "succeeded", "x", "me")
        with pytest.raises(EngineError, match="is a foreach step: mark its items"):
            store.mark_step(db, gate.id, "fan", "succeeded", "x", "me")
        ex.cancel(handle.id)
        ex.cancel(gate.id)
    with pytest.raises(
        EngineError, match=rf"has ended \(cancelled\); .* wfe rerun {handle.id} --only hang"
    ):
        store.mark_step(db, handle.id, "hang", "succeeded", "x", "me")


def test_wfe_step_mark_settles_a_step_a_worker_runs(
    wfe: Wfe, db: store.Store, tmp_path: Path
) -> None:
    group = tmp_path / "group"
    f = tmp_path / "stuck.yaml"
    f.write_text(
        "name: stuck\nsteps:\n"
        f"  - {{id: hang, run: 'echo $$ > {group}; sleep 60'}}\n"
        "  - {id: after, log: went on}\n"
    )
    wfe("workflow", "add", str(f))
    execution_id = int(wfe("run", "stuck", "--detach").stdout)
    worker = wfe.start("worker")
    try:
        wait_until(group.exists)
        said = wfe(
            "step", str(execution_id), "hang", "--mark", "succeeded", "--reason", "known good"
        )
        assert said.exit_code == 0, said.stderr
        assert said.stdout.startswith(f"execution {execution_id} step hang: marked succeeded by ")
        began = time.monotonic()
        wait_until(lambda: store.get_execution(db, execution_id).status == "succeeded", timeout=20)
        assert time.monotonic() - began < 5
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    again = wfe("step", str(execution_id), "hang", "--mark", "failed", "--reason", "x")
    assert again.exit_code == 1 and f"wfe rerun {execution_id} --only hang" in again.stderr


@pytest.mark.trio
async def test_rerun_only_runs_the_step_and_its_dependants_and_keeps_the_rest(
    db: store.Store, tmp_path: Path
) -> None:
    effects = tmp_path / "effects"
    flag = tmp_path / "fixed"
    add(
        db,
        f"""
        name: w
        steps:
          - {{id: a, run: "echo a >> {effects}"}}
          - {{id: b, run: "echo b >> {effects}; test -e {flag}"}}
          - {{id: c, run: "echo c >> {effects}"}}
          - {{id: other, needs: [a], run: "echo other >> {effects}; false"}}
        """,
    )
    first = await run(db, "w")
    assert first.status == "failed"
    assert sorted(effects.read_text().split()) == ["a", "b", "other"]
    flag.touch()
    effects.unlink()
    from engine.runtime import reruns

    new = reruns.rerun(db, first.id, only="b")
    async with runtime.open_executor(db, cancel_poll_interval=0.05) as ex:
        handle = await ex.start_existing(new.id, resume=True)
        await handle.wait()
    assert sorted(effects.read_text().split()) == ["b", "c"]  # only b and what needs it
    got = steps_of(db, new.id)
    assert got == {
        "a": ("succeeded", 1),
        "b": ("succeeded", 1),
        "c": ("succeeded", 1),
        "other": ("failed", 1),  # kept as it was: --only runs nothing else
    }
    other = next(r for r in store.step_runs(db, new.id) if r.step_id == "other")
    assert other.error == f"reused from execution {first.id}: exited with code 1"
    assert store.get_execution(db, new.id).status == "failed"


@pytest.mark.trio
async def test_an_item_marked_before_it_starts_is_settled_when_its_turn_comes(
    db: store.Store, tmp_path: Path
) -> None:
    effects = tmp_path / "effects"
    add(
        db,
        f"""
        name: fan
        steps:
          - id: s
            foreach: [a, b, c]
            max_parallel: 1
            run: "echo ${{{{ item }}}} >> {effects}; [ ${{{{ item }}}} != a ] || sleep 60"
        """,
    )
    async with runtime.open_executor(db, cancel_poll_interval=0.05) as ex:
        handle = await ex.start("fan")
        await until(lambda: steps_of(db, handle.id).get("s[a]", ("",))[0] == "running")
        store.mark_step(db, handle.id, "s[b]", "succeeded", "done by hand", "me")
        store.mark_step(db, handle.id, "s[a]", "succeeded", "known good", "me")
        await handle.wait()
    assert handle.status == "succeeded"
    assert effects.read_text().split() == ["a", "c"]  # b never ran
    runs = {r.step_id: r for r in store.step_runs(db, handle.id, latest_only=True)}
    assert runs["s[b]"].error == "marked succeeded by me: done by hand"
