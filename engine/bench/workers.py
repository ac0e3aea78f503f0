"""Real ``wfe worker`` processes: queue to first step, and executions/s through two."""

from __future__ import annotations

import functools
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engine import store
from engine.bench.results import Result
from engine.bench.scenarios import add_workflow
from engine.errors import StoreError


def _start_worker(url: str, concurrency: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "--db",
            url,
            "worker",
            "--concurrency",
            str(concurrency),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise StoreError("a worker did not do its work in time")
        time.sleep(0.002)


def _has_steps(db: store.Store, execution_id: int) -> bool:
    return bool(store.step_runs(db, execution_id))


def workers(*, samples: int = 30, executions: int = 500) -> list[Result]:
    """Real worker processes on a temporary SQLite file."""
    with tempfile.TemporaryDirectory(prefix="wfe-workers-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'workers.db'}"
        db = store.open_store(url)
        add_workflow(db, "name: one\nsteps:\n  - {id: a, log: x}\n")
        row = store.get_workflow(db, "one")
        procs = [_start_worker(url, 8)]
        try:
            _wait(lambda: bool(store.live_runners(db)))
            # A warm-up, as every scenario has one: the worker's first execution also
            # pays for its first thread, its first read of the workflow and its imports.
            warm = store.create_execution(db, row, {}, trigger="detached")
            _wait(functools.partial(_has_steps, db, warm.id or 0))
            latencies = []
            for _ in range(samples):
                queued = store.create_execution(db, row, {}, trigger="detached")
                assert queued.id is not None
                _wait(functools.partial(_has_steps, db, queued.id))
                (step,) = store.step_runs(db, queued.id)
                assert step.started_at is not None or step.finished_at is not None
                began = step.started_at or step.finished_at
                assert began is not None
                latencies.append((began - queued.queued_at).total_seconds() * 1000)
            procs.append(_start_worker(url, 8))
            _wait(lambda: len(store.live_runners(db)) == 2)
            start = time.perf_counter()
            store.create_executions(db, row, [{}] * executions, trigger="detached")
            _wait(lambda: store.stats(db).succeeded == 1 + samples + executions, timeout=300)
            rate = executions / (time.perf_counter() - start)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=60)
            db.close()
    latencies.sort()
    lat = Result(
        "detach_to_first_step",
        "ms p50",
        [statistics.median(latencies)],
        None,
        "p50 < 50 ms",
        higher_is_better=False,
    )
    lat.extra = {"p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}
    return [
        lat,
        Result("two_workers", "executions/s", [rate], None, f"{executions} one-step executions"),
    ]
