"""Real ``wfe worker`` processes beside the queue floor, on one store.

``wfe bench --workers K`` queues one-step executions and times K real workers draining
them (executions/s), and, in the same run on the same store, K processes draining as many
through the queue floor: the same claim, run-nothing and finish loop written the most
direct way on the driver (see ``Dialect.queue_floor``). Queue to first step is timed
with one idle worker; a worker's memory over many executions is read from /proc.
"""

from __future__ import annotations

import functools
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from engine import store
from engine.bench.results import Result
from engine.bench.scenarios import add_workflow, fresh_store
from engine.errors import StoreError

ONE_STEP = "name: one\nsteps:\n  - {id: a, log: x}\n"


def _start(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "--db", url, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@contextmanager
def _workers(db: store.Store, url: str, count: int, concurrency: int) -> Iterator[list[int]]:
    """``count`` real workers, running until the block ends; their pids."""
    procs = [_start(url, "worker", "--concurrency", str(concurrency)) for _ in range(count)]
    try:
        before = len(store.live_runners(db))
        _wait(lambda: len(store.live_runners(db)) >= before + count, procs)
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.communicate(timeout=60)


def _wait(
    predicate: Callable[[], bool],
    procs: Sequence[subprocess.Popen[bytes]] = (),
    timeout: float = 300.0,
    every: float = 0.002,
) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        for p in procs:
            if p.poll() is not None:
                err = (p.stderr.read() if p.stderr else b"").decode(errors="replace")
                raise StoreError(f"a worker stopped (exit {p.returncode}): {err[-500:]}")
        if time.perf_counter() > deadline:
            raise StoreError("the workers did not do their work in time")
        time.sleep(every)


def _has_steps(db: store.Store, execution_id: int) -> bool:
    return bool(store.step_runs(db, execution_id))


def _succeeded(db: store.Store) -> int:
    return store.stats(db).succeeded


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise StoreError(f"no memory figure for pid {pid}")


def _latencies(db: store.Store, url: str, row: store.Workflow, samples: int) -> list[float]:
    """Queue to first step, in ms, one execution at a time with one idle worker."""
    with _workers(db, url, 1, 8):
        # A warm-up, as every scenario has one: the worker's first execution also pays
        # for its first thread, its first read of the workflow and its imports.
        warm = store.create_execution(db, row, {}, trigger="bench")
        _wait(functools.partial(_has_steps, db, warm.id or 0))
        out = []
        for _ in range(samples):
            queued = store.create_execution(db, row, {}, trigger="bench")
            assert queued.id is not None
            time.sleep(0.05)  # the worker idles, waiting, before each one
            _wait(functools.partial(_has_steps, db, queued.id), every=0.0005)
            (step,) = store.step_runs(db, queued.id)
            began = step.started_at or step.finished_at
            assert began is not None
            out.append((began - queued.queued_at).total_seconds() * 1000)
    return sorted(out)


@contextmanager
def _floors(url: str, count: int, batch: int) -> Iterator[None]:
    """``count`` queue-floor processes, connected and polling, until the block ends."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "engine.bench.queue_floor", url, str(batch)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != b"ready":
                raise StoreError(f"a queue-floor process stopped (exit {p.wait()})")
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)


def _drain(db: store.Store, row: store.Workflow, executions: int) -> float:
    """Queue ``executions`` in one transaction, then executions/s until the last ended.

    Timed from the commit that queued them (inserting thousands of rows takes a good
    part of a second, when the workers can see none) to the last recorded end; waited
    for with a look that costs two index lookups (counting what succeeded would take
    the server's time from the work it times).
    """
    done = _succeeded(db) + executions
    store.queue_many(db, row, [{}] * executions, "bench")
    began = store.utcnow()
    _wait(lambda: store.drained(db) is not None, every=0.01)
    ended = store.drained(db)
    if ended is None or _succeeded(db) < done:
        raise StoreError("the bench's executions did not all succeed")
    return executions / max((ended - began).total_seconds(), 1e-6)


def workers(
    *,
    url: str | None = None,
    count: int = 2,
    concurrency: int = 16,
    executions: int = 3000,
    rounds: int = 3,
    samples: int = 30,
    memory_executions: int = 0,
) -> list[Result]:
    """``count`` real workers beside the queue floor, on the empty database at ``url``
    (a fresh temporary SQLite file by default)."""
    with fresh_store(url, "workers") as db:
        url = db.url
        add_workflow(db, ONE_STEP)
        row = store.get_workflow(db, "one")
        latencies = _latencies(db, url, row, samples)
        engine_rates, floor_rates = [], []
        for _ in range(rounds):
            with _floors(url, count, concurrency):
                floor_rates.append(_drain(db, row, executions))
            with _workers(db, url, count, concurrency):
                # Warmed up first, as the floor's processes are by connecting: a
                # worker's first executions pay for its threads, imports and first reads.
                _drain(db, row, count * concurrency * 4)
                engine_rates.append(_drain(db, row, executions))
        memory = _memory(db, url, row, memory_executions, concurrency)
    lat = Result(
        "queue_to_first_step",
        "ms p50",
        [latencies[len(latencies) // 2]],
        None,
        "p50 <= 5 ms, p99 <= 20 ms",
        higher_is_better=False,
    )
    lat.extra = {"p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}
    floor = statistics.median(floor_rates)
    through = Result(
        f"workers_{count}",
        "executions/s",
        engine_rates,
        None,
        f"{executions} one-step executions, {count} x --concurrency {concurrency}",
        floor_ratio=statistics.median(engine_rates) / floor if floor else None,
    )
    results = [
        lat,
        through,
        Result(f"queue_floor_{count}", "executions/s", floor_rates, None, "claim, finish, no run"),
    ]
    if memory is not None:
        results.append(memory)
    return results


def _memory(
    db: store.Store, url: str, row: store.Workflow, executions: int, concurrency: int
) -> Result | None:
    """A worker's RSS growth over ``executions``, after a warm-up of a tenth as many."""
    if executions <= 0 or not Path("/proc/self/status").exists():
        return None
    with _workers(db, url, 1, concurrency) as (pid,):
        _drain(db, row, max(1000, executions // 10))
        before = _rss_mb(pid)
        for _ in range(0, executions, 10_000):
            _drain(db, row, min(10_000, executions))
        grown = _rss_mb(pid) - before
    result = Result(
        "worker_memory_growth",
        "MB",
        [grown],
        None,
        f"<= 10 MB over {executions:,} executions",
        higher_is_better=False,
    )
    result.extra = {"rss_before_mb": before, "executions": executions}
    return result
