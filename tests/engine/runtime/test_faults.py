"""The store under faults, with real processes: a long lock, a full disk, a deleted or
read-only store, bytes a database cannot hold. Nothing is lost, no runner dies of it,
no execution is left running, and what cannot be done is said in one line.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import store
from engine.errors import NotFound
from tests.support import Wfe, add, wait_until, write_lock_held

BACKENDS = ("sqlite", "postgresql")


def add_file(wfe: Wfe, tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    added = wfe("workflow", "add", str(path))
    assert added.exit_code == 0, added.output


def status_of(url: str, execution_id: int) -> str | None:
    db = store.open_store(url)
    try:
        return store.get_execution(db, execution_id).status
    except NotFound:
        return None  # not queued yet
    finally:
        db.close()


def test_a_long_lock_is_ridden_out_by_a_worker_and_never_waited_for_by_reads(
    wfe: Wfe, tmp_path: Path
) -> None:
    add_file(
        wfe,
        tmp_path,
        "slow",
        "name: slow\nsteps:\n  - {id: a, run: 'sleep 2; echo one'}\n  - {id: b, run: 'echo two'}\n",
    )
    queued = int(wfe("run", "slow", "--detach").stdout)
    worker = wfe.start("worker", "--lease", "3s")
    try:
        wait_until(lambda: status_of(wfe.url, queued) == "running", timeout=30)
        path = Path(wfe.url.removeprefix("sqlite:///"))
        with write_lock_held(path) as locker:
            began = time.monotonic()
            listed = wfe.process("executions", "list")  # a read: it never waits for the lock
            assert listed.returncode == 0 and time.monotonic() - began < 5, listed.stderr
            detached = wfe.process("run", "slow", "--detach")  # a write: waits, then says why
            assert detached.returncode == 1
            assert "database is locked (after waiting 10s); the store is open in" in detached.stderr
            assert f"pid {locker.pid} (" in detached.stderr
            assert len(detached.stderr.strip().splitlines()) == 1
            time.sleep(6)  # 20 s of lock in all: longer than the worker's lease
            assert worker.poll() is None  # it rode the lock out
        wait_until(lambda: status_of(wfe.url, queued) == "succeeded", timeout=60)
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert err.count("the store takes no writes") <= 1 and "Traceback" not in err


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB filesystem of its own (tmpfs), room for two chatty runs and their WAL
    (up to 1000 pages before SQLite checkpoints); skipped where nothing may be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a small disk here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_loses_nothing_and_is_recovered_from(tmp_path: Path, small_disk: Path) -> None:
    wfe = Wfe(f"sqlite:///{small_disk / 'wfe.db'}")
    go = tmp_path / "go"
    add_file(
        wfe,
        tmp_path,
        "chatty",
        "name: chatty\nsteps:\n"
        f"  - {{id: wait, run: 'while [ ! -e {go} ]; do sleep 0.05; done'}}\n"
        "  - id: talk\n    run: |\n"
        '      for i in $(seq 1 4000); do echo "line $i of a chatty step, padded out a little"; done\n'
        "  - {id: after, log: done}\n",
    )
    run = wfe.start("run", "chatty")
    try:
        wait_until(lambda: status_of(wfe.url, 1) == "running", timeout=30)
        filler = fill(small_disk)
        go.touch()
        assert run.stderr is not None
        seen = ""
        while "the store takes no writes" not in seen:
            line = run.stderr.readline()
            assert line, f"the run ended before the disk filled: {seen}"
            seen += line
        assert "full" in seen or "disk I/O" in seen, seen
        time.sleep(1)
        assert run.poll() is None  # it waits for space, it neither dies nor drops the log
        filler.unlink()  # space is back
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, out + err
    assert "✓ succeeded  execution 1" in out and "Traceback" not in err
    with sqlite3.connect(small_disk / "wfe.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM log_line").fetchone() == (4001,)
    again = wfe.process("run", "chatty")  # and later runs work too
    assert again.returncode == 0, again.stderr


def fill(disk: Path) -> Path:
    """Fill a small disk to its last byte; the file that does it."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"x" * 4096)
    return filler


def test_a_worker_waits_out_a_full_disk_longer_than_its_lease(
    tmp_path: Path, small_disk: Path
) -> None:
    # Nobody can write to a full disk, so nobody can take work over: the worker keeps
    # its executions and goes on once space is back, however long that takes.
    wfe = Wfe(f"sqlite:///{small_disk / 'wfe.db'}")
    go = tmp_path / "go"
    add_file(
        wfe,
        tmp_path,
        "full",
        "name: full\nsteps:\n"
        f"  - {{id: wait, run: 'while [ ! -e {go} ]; do sleep 0.05; done; seq 1 2000'}}\n"
        "  - {id: after, log: done}\n",
    )
    queued = int(wfe("run", "full", "--detach").stdout)
    worker = wfe.start("worker", "--lease", "2s")
    try:
        wait_until(lambda: status_of(wfe.url, queued) == "running", timeout=30)
        filler = fill(small_disk)
        go.touch()
        time.sleep(8)  # four leases
        assert worker.poll() is None
        filler.unlink()
        wait_until(lambda: status_of(wfe.url, queued) == "succeeded", timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "disk is full" in err and "Traceback" not in err
    assert err.count("heartbeat failed") == 1  # said once, not every beat


def test_a_store_deleted_under_a_worker_stops_it_with_the_reason(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "store"
    wfe = Wfe(f"sqlite:///{folder / 'wfe.db'}")
    add_file(wfe, tmp_path, "long", "name: long\nsteps:\n  - {id: a, run: 'sleep 60'}\n")
    queued = int(wfe("run", "long", "--detach").stdout)
    worker = wfe.start("worker", "--lease", "3s")
    try:
        wait_until(lambda: status_of(wfe.url, queued) == "running", timeout=30)
        shutil.rmtree(folder)
        _out, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 1
    assert err.strip().splitlines()[-1] == (
        f"error: the store {folder / 'wfe.db'} was deleted or replaced while this runner used"
        " it; stopping (start it again on the store you mean)"
    )


def test_a_read_only_store_names_the_real_cause(wfe: Wfe, tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a filesystem here to make read-only")
    try:
        ro = Wfe(f"sqlite:///{mount / 'wfe.db'}")
        assert ro("stats").exit_code == 0  # created
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        result = ro("stats")
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: cannot write to the database {mount / 'wfe.db'}: Read-only file system\n"
        )
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_bytes_a_database_cannot_hold_are_stored_and_kill_no_worker(
    wfe: Wfe, tmp_path: Path, db_url: str
) -> None:
    add_file(
        wfe,
        tmp_path,
        "odd",
        "name: odd\nsteps:\n"
        "  - {id: nul, run: \"printf 'nul:\\\\0:nul\\\\n'\"}\n"
        "  - {id: binary, run: 'head -c 3000 /dev/urandom'}\n"
        "  - {id: python, python: 'tests.callables:echo', with: {value: \"a${{ execution.id }}\"}}\n",
    )
    add_file(wfe, tmp_path, "plain", "name: plain\nsteps:\n  - {id: a, log: fine}\n")
    poison = int(wfe("run", "odd", "--detach").stdout)
    after = int(wfe("run", "plain", "--detach").stdout)
    worker = wfe.start("worker")
    try:
        # (Both run at once: the plain one may end first.)
        ended = ("succeeded", "failed", "cancelled", "timed_out")
        wait_until(
            lambda: status_of(db_url, after) in ended and status_of(db_url, poison) in ended,
            timeout=60,
        )
        assert (status_of(db_url, poison), status_of(db_url, after)) == ("succeeded", "succeeded")
        assert worker.poll() is None  # alive, and on to the next
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert "Traceback" not in err
    db = store.open_store(db_url)
    try:
        lines = [line.text for line in store.log_lines(db, poison) if line.step_id == "nul"]
        assert lines == ["nul:\u2400:nul"]
    finally:
        db.close()


def test_what_the_database_refuses_fails_one_execution_not_the_runner(db: store.Store) -> None:
    """A row the database cannot hold (a 300-character step id on PostgreSQL's
    varchar(200)) is refused: the recorder writes the rest, and fails that execution."""
    import trio

    from engine.runtime.recorder import Recorder

    if db.path is not None:
        pytest.skip("SQLite holds a step id of any length: nothing to refuse")
    wf = add(db, "name: w\nsteps: [{id: a, log: x}]\n")
    wf_row = store.get_workflow(db, wf.name)
    good, bad = store.create_executions(db, wf_row, [{}, {}])
    refused: list[tuple[int, str]] = []
    now = datetime.now(UTC)

    def row(execution_id: int, step_id: str) -> dict[str, object]:
        return {
            "execution_id": execution_id,
            "step_id": step_id,
            "position": 0,
            "attempt": 1,
            "status": "succeeded",
            "started_at": now,
            "finished_at": now,
            "duration_ms": 1.0,
            "exit_code": None,
            "output": "ok",
            "error": None,
            "host": None,
            "pid": None,
        }

    async def main() -> None:
        recorder = Recorder(db)
        recorder.on_refused = lambda execution_id, why: refused.append((execution_id, why))
        recorder.step(row(good.id, "a"))
        recorder.step(row(bad.id, "a" * 300))
        await recorder.sync()

    trio.run(main)
    assert [r.step_id for r in store.step_runs(db, good.id)] == ["a"]
    assert store.step_runs(db, bad.id) == []
    failed = store.get_execution(db, bad.id)
    assert failed.status == "failed"
    assert failed.error.startswith("the store refused what it recorded: database error on")
    assert [execution_id for execution_id, _why in refused] == [bad.id]
