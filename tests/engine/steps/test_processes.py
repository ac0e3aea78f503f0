"""A step's processes wherever they go: setsid, double forks, SIGTERM ignored, a cleared
environment. Timeout, cancel and the runner's death end all of them.

Real shells, real signals. Each case runs twice where it can: with cgroups (this
process may create them: root, or a delegated cgroup) and without them (process group
and environment tag only), which is what most unprivileged hosts give.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

from engine import runtime, store
from engine.steps import processes, reaper
from tests.support import NO_POLL, add, alive, steps_of, wait_until

# Started by the step; each writes its pid to a file named after it.
ESCAPES = {
    "setsid": "setsid sleep 301 & echo $! > {d}/setsid",
    "double_fork": "( ( sleep 302 & echo $! > {d}/double_fork ) & )",
    "ignores_term": "( trap '' TERM; exec sleep 303 ) & echo $! > {d}/ignores_term",
    "both": "setsid bash -c 'trap \"\" TERM; echo $$ > {d}/both; exec sleep 304' &",
}
# Only a cgroup holds a process that left its group and cleared its environment.
HIDDEN = {"hidden": "setsid env -i /bin/sleep 305 & echo $! > {d}/hidden"}


def cgroups_missing() -> str | None:
    if processes._here().cgroups is None:
        return "this process may not create cgroups (cgroup v2 needs root or delegation)"
    return None


@pytest.fixture(params=["cgroups", "no-cgroups"])
def tracking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "cgroups":
        missing = cgroups_missing()
        if missing:
            pytest.skip(missing)
    else:
        monkeypatch.setattr(processes, "_home", None)
        monkeypatch.setattr(reaper, "own_cgroup", lambda proc=reaper.PROC: None)
        assert processes._here().cgroups is None
    return str(request.param)


def script(folder: Path, escapes: dict[str, str], then: str) -> str:
    lines = [line.format(d=folder) for line in escapes.values()]
    return "\n".join([*lines, f"touch {folder}/started", then])


def pids(folder: Path, names: Iterable[str]) -> dict[str, int]:
    """The pids the step's processes wrote (each writes its own file)."""
    names = list(names)
    wait_until(lambda: all((folder / n).exists() for n in names), timeout=10)
    return {n: int((folder / n).read_text()) for n in names}


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """Where the step's processes write their pids; whatever a failing test left is killed."""
    pids = tmp_path / "pids"
    pids.mkdir()
    yield pids
    for f in pids.iterdir():
        text = f.read_text().strip()
        if text.isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(text), signal.SIGKILL)


def workflow(db: store.Store, body: str, timeout: str = "") -> None:
    step = textwrap.indent(body, " " * 6)
    limit = f"\n    timeout: {timeout}" if timeout else ""
    add(db, f"name: w\nsteps:\n  - id: a{limit}\n    run: |\n{step}\n")


def escapes_for(tracking: str) -> dict[str, str]:
    return {**ESCAPES, **(HIDDEN if tracking == "cgroups" else {})}


def test_a_timeout_ends_every_process_the_step_started(
    db: store.Store, folder: Path, tracking: str
) -> None:
    escapes = escapes_for(tracking)
    workflow(db, script(folder, escapes, "sleep 300"), timeout="1s")

    async def main() -> str:
        async with runtime.open_executor(db, kill_grace=0.5, **NO_POLL) as ex:
            return await (await ex.run("w")).wait()

    assert trio.run(main) == "failed"
    assert steps_of(db, 1) == {"a": ("timed_out", 1)}
    left = pids(folder, escapes)
    assert {name for name, pid in left.items() if alive(pid)} == set()


def test_wfe_cancel_ends_every_process_the_step_started(
    db: store.Store, folder: Path, tracking: str
) -> None:
    escapes = escapes_for(tracking)
    workflow(db, script(folder, escapes, "sleep 300"))

    async def main() -> str:
        async with runtime.open_executor(db, kill_grace=0.5, cancel_poll_interval=0.1) as ex:
            handle = await ex.start("w")
            with trio.fail_after(20):
                while not (folder / "started").exists():
                    await trio.sleep(0.02)
            # As `wfe cancel` asks it, from another process: through the store.
            await trio.to_thread.run_sync(store.request_cancel, db, handle.id)
            return await handle.wait()

    assert trio.run(main) == "cancelled"
    left = pids(folder, escapes)
    assert {name for name, pid in left.items() if alive(pid)} == set()


def test_what_a_finished_step_leaves_in_its_cgroup_is_ended(db: store.Store, folder: Path) -> None:
    missing = cgroups_missing()
    if missing:
        pytest.skip(missing)
    workflow(db, script(folder, {**ESCAPES, **HIDDEN}, "true"))

    async def main() -> str:
        async with runtime.open_executor(db, kill_grace=0.5, **NO_POLL) as ex:
            return await (await ex.run("w")).wait()

    assert trio.run(main) == "succeeded"
    left = pids(folder, {**ESCAPES, **HIDDEN})
    assert {name for name, pid in left.items() if alive(pid)} == set()
    home = processes._here().cgroups
    assert home is not None and not reaper.populated(home)  # its cgroup is empty


def test_a_process_group_that_outlives_the_step_without_cgroups_is_ended_too(
    db: store.Store, folder: Path, tracking: str
) -> None:
    # What stays in the shell's group goes when the command ends, with or without cgroups.
    workflow(db, f"sleep 300 & echo $! > {folder}/child\ntrue")

    async def main() -> str:
        async with runtime.open_executor(db, kill_grace=0.5, **NO_POLL) as ex:
            return await (await ex.run("w")).wait()

    assert trio.run(main) == "succeeded"
    assert not alive(pids(folder, ["child"])["child"])


# -- the watcher: a runner's death, however it dies ----------------------------------------------

RUNNER = """
import os, subprocess, sys, time
env = {{"PATH": "/usr/bin:/bin", "WFE_PROCESS": "tag-{tag}"}}
for n in range(3):
    # One in its own session, one that ignores SIGTERM, one plain child.
    subprocess.Popen(["bash", "-c", "trap '' TERM; echo $$ > {d}/" + str(n) + "; exec sleep 300"],
                     env=env, start_new_session=n != 2)
other = subprocess.Popen(["sleep", "300"], start_new_session=True)  # untagged: not its business
open("{d}/other", "w").write(str(other.pid))
print("ready", flush=True)
time.sleep(300)
"""


def test_the_watcher_ends_a_dead_runner_s_processes_within_a_second(folder: Path) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER.format(tag=os.getpid(), d=folder)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert runner.stdout is not None and runner.stdout.readline() == "ready\n"
        start = reaper.start_ticks(runner.pid)
        watcher = subprocess.Popen(
            [sys.executable, "-I", "-S", reaper.__file__, str(runner.pid), str(start),
             f"WFE_PROCESS=tag-{os.getpid()}"]
        )  # fmt: skip
        left = pids(folder, ["0", "1", "2"])
        time.sleep(0.3)  # the watcher is waiting now
        assert watcher.poll() is None and all(alive(p) for p in left.values())
        runner.kill()
        runner.wait()
        killed = time.monotonic()
        wait_until(lambda: not any(alive(p) for p in left.values()), timeout=5)
        assert time.monotonic() - killed < 1.5
        assert watcher.wait(timeout=5) == 0
        assert alive(pids(folder, ["other"])["other"])  # not started by the runner's shells
    finally:
        runner.kill()
        runner.wait()
        if runner.stdout:
            runner.stdout.close()


def test_the_watcher_refuses_bad_arguments() -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-S", reaper.__file__, "x"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "usage" in done.stderr


def test_a_watcher_watches_its_process_and_is_started_again_if_it_dies() -> None:
    home = processes._here()
    assert home.watcher is not None and alive(home.watcher)
    first = home.watcher
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: processes._watcher_gone(first), timeout=5)
    processes._here()  # as the next shell starts
    assert home.watcher != first and home.watcher is not None and alive(home.watcher)


def test_steps_of_a_killed_foreground_run_end_within_a_second(
    db_url: str, db: store.Store, folder: Path
) -> None:
    workflow(db, script(folder, ESCAPES, "sleep 300"))
    run = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "--db", db_url, "run", "w"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until((folder / "started").exists, timeout=30)
        # The step's row is written by the runner's group commit, a moment after the
        # step starts: killed before it, the run would leave nothing to check below.
        wait_until(lambda: "a" in steps_of(db, 1), timeout=30)
        left = pids(folder, ESCAPES)
        run.kill()
        run.wait()
        killed = time.monotonic()
        wait_until(lambda: not any(alive(p) for p in left.values()), timeout=5)
        assert time.monotonic() - killed < 1.5
    finally:
        run.kill()
        run.wait()
    assert steps_of(db, 1)["a"][0] == "running"  # nobody has taken it over yet


# -- is a runner's process gone? -----------------------------------------------------------------


def test_gone_tells_a_live_process_a_dead_one_and_a_reused_pid() -> None:
    now = datetime.now(UTC)
    assert not processes.gone(os.getpid(), now)  # this one, started before now
    # The same pid recorded by a runner that started an hour before this process did:
    # the pid was reused since, that runner is gone.
    started = datetime.fromtimestamp(start_of(os.getpid()), UTC)
    assert processes.gone(os.getpid(), started - timedelta(hours=1))
    finished = subprocess.Popen(["true"])
    finished.wait()
    assert processes.gone(finished.pid, now)
    zombie = subprocess.Popen(["true"])  # ended, not yet collected
    wait_until(lambda: (reaper.stat(Path(f"/proc/{zombie.pid}")) or [b"Z"])[0] == b"Z")
    assert processes.gone(zombie.pid, now)
    zombie.wait()


def start_of(pid: int) -> float:
    """When ``pid`` started, in seconds since the epoch (from /proc)."""
    ticks = reaper.start_ticks(pid)
    assert ticks is not None
    boot = next(
        int(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    return boot + ticks / os.sysconf("SC_CLK_TCK")
