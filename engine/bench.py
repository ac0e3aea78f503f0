"""``wfe bench``: the seed's performance figures measured here, beside a floor.

Every scenario runs on a fresh temporary store (or on an empty database named with
``--db``), several times; the report gives the median with the min and max. The floor is
the throughput scenario's work done the most direct way (trio tasks and plain ``sqlite3``
batched writes) in the same process, so ratios hold on a noisy machine.
"""

from __future__ import annotations

import functools
import gc
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import trio

from engine import definition, executor, store
from engine.errors import StoreError
from engine.steps import shell

# The product we replace published these.
SEED = {
    "throughput": 856.90,
    "large_workflow": 1167.0,
    "memory": 50.0,
}

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    unit: str
    samples: list[float]
    seed: float | None = None
    target: str = ""
    higher_is_better: bool = True
    floor_ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def vs_seed(self) -> float | None:
        if self.seed is None or not self.median:
            return None
        return self.median / self.seed if self.higher_is_better else self.seed / self.median

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "median": self.median,
            "min": min(self.samples),
            "max": max(self.samples),
            "runs": len(self.samples),
            "seed": self.seed,
            "vs_seed": self.vs_seed,
            "floor_ratio": self.floor_ratio,
            "target": self.target,
            **self.extra,
        }


def rss_bytes() -> int:
    """This process's resident memory now (not its peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------


def _log_workflow(name: str, steps: int) -> str:
    body = "".join(f"  - id: s{i}\n    log: step {i}\n" for i in range(steps))
    return f"name: {name}\nsteps:\n{body}"


def _add(db: store.Store, text: str) -> None:
    store.save_workflows(db, [(definition.parse(text, "bench"), None)])


@contextmanager
def _fresh_store(url: str | None) -> Iterator[store.Store]:
    if url is not None:
        db = store.open_store(url)
        try:
            total = store.list_workflows(db, limit=1)[1]
            if total:
                raise StoreError(
                    f"wfe bench needs an empty database; {url} holds {total} workflow(s)"
                )
            yield db
        finally:
            db.close()
        return
    with tempfile.TemporaryDirectory(prefix="wfe-bench-") as tmp:
        db = store.open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            yield db
        finally:
            db.close()


async def _throughput(ex: executor.Executor, workflows: int) -> float:
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for w in range(workflows):
            nursery.start_soon(ex.run, f"tp-{w}")
    return time.perf_counter() - start


async def _large(ex: executor.Executor) -> float:
    start = time.perf_counter()
    handle = await ex.start("large")
    await handle.wait()  # returns once the execution's end is committed
    return (time.perf_counter() - start) * 1000


async def _concurrency(
    ex: executor.Executor, db: store.Store, count: int
) -> tuple[float, float, int]:
    start = time.perf_counter()
    handles = await ex.start_many("conc", [{}] * count)
    peak = 0
    pending = list(handles)
    while pending:
        peak = max(peak, ex.statistics().running)
        await trio.sleep(0.005)
        pending = [h for h in pending if not h.finished]
    elapsed = time.perf_counter() - start
    rows, _ = await trio.to_thread.run_sync(
        lambda: store.list_executions(db, workflow="conc", limit=count)
    )
    waits = [
        (r.started_at - r.queued_at) / timedelta(milliseconds=1)
        for r in rows
        if r.started_at is not None
    ]
    return elapsed, max(waits), peak


def _floor(path: Path, workflows: int, steps: int) -> float:
    """The throughput work done directly: trio tasks, plain sqlite3, batched, WAL."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS step_run (id INTEGER PRIMARY KEY, execution_id INT,"
        " step_id TEXT, position INT, attempt INT, status TEXT, started_at TEXT,"
        " finished_at TEXT, duration_ms REAL, exit_code INT, output TEXT, error TEXT)"
    )
    conn.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS ux ON step_run (execution_id, step_id, attempt)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS log_line (id INTEGER PRIMARY KEY, execution_id INT,"
        " step_id TEXT, seq INT, time TEXT, stream TEXT, text TEXT)"
    )
    run_id = random.randrange(1 << 40)

    def write(steps_rows: list[tuple[Any, ...]], logs: list[tuple[Any, ...]]) -> None:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO step_run VALUES (NULL,?,?,?,?,?,?,?,?,?,?,?)", steps_rows)
        conn.executemany("INSERT INTO log_line VALUES (NULL,?,?,?,?,?,?)", logs)
        conn.execute("COMMIT")

    async def main() -> float:
        pending_steps: list[tuple[Any, ...]] = []
        pending_logs: list[tuple[Any, ...]] = []
        wake = trio.Event()
        done = 0

        async def writer() -> None:
            nonlocal wake, pending_steps, pending_logs
            while True:
                await wake.wait()
                wake = trio.Event()
                batch, logs = pending_steps, pending_logs
                pending_steps, pending_logs = [], []
                await trio.to_thread.run_sync(write, batch, logs)

        async def chain(w: int) -> None:
            nonlocal done
            for i in range(steps):
                await trio.lowlevel.checkpoint()
                now = time.time()
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
                text = f"step {i}"
                pending_steps.append(
                    (
                        run_id + w,
                        f"s{i}",
                        i,
                        1,
                        "succeeded",
                        stamp,
                        stamp,
                        0.0,
                        None,
                        f'"{text}"',
                        None,
                    )
                )
                pending_logs.append((run_id + w, f"s{i}", i, stamp, "log", text))
                wake.set()
                done += 1

        start = time.perf_counter()
        async with trio.open_nursery() as outer:
            outer.start_soon(writer)
            async with trio.open_nursery() as nursery:
                for w in range(workflows):
                    nursery.start_soon(chain, w)
            outer.cancel_scope.cancel()  # waits for a write under way to finish
        # The last rows are committed before the clock stops.
        write(pending_steps, pending_logs)
        return time.perf_counter() - start

    try:
        return trio.run(main)
    finally:
        conn.close()


def _plain_spawns(count: int) -> float:
    argv = shell.shell_argv("true")
    start = time.perf_counter()
    for _ in range(count):
        subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return time.perf_counter() - start


# ---------------------------------------------------------------------------
# Dashboard at scale
# ---------------------------------------------------------------------------


def _bulk_fill(db: store.Store, executions: int, steps_per: int, workflows: int = 100) -> None:
    """Fill the store fast, past the engine: spread over 30 days, in chunks."""
    for w in range(workflows):
        _add(db, f"name: dash-{w}\nsteps: [{{id: a, log: x}}]\n")
    rows, _total = store.list_workflows(db, search="dash-", limit=workflows)
    targets = [(r.workflow.id or 0, r.workflow.name) for r in rows]
    fill = _fill_sqlite if db.is_sqlite else _fill_postgresql
    fill(db, _bulk_rows(executions, steps_per, targets))


_EXEC_COLUMNS = (
    "id, workflow_id, workflow_name, version, params, status, trigger, cancel_requested,"
    " queued_at, started_at, finished_at, duration_ms, error"
)
_STEP_COLUMNS = (
    "execution_id, step_id, position, attempt, status, started_at, finished_at, duration_ms,"
    " exit_code, output, error"
)
_Chunk = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _bulk_rows(
    executions: int, steps_per: int, workflows: list[tuple[int, str]], base: int = 10_000_000
) -> Iterator[_Chunk]:
    """Execution and step-run rows, 50,000 executions at a time (ids from ``base`` on)."""
    now = time.time()
    rng = random.Random(7)
    statuses = ["succeeded"] * 90 + ["failed"] * 8 + ["cancelled"] * 2
    chunk = 50_000
    for start in range(0, executions, chunk):
        rows: list[tuple[Any, ...]] = []
        srows: list[tuple[Any, ...]] = []
        for i in range(start, min(start + chunk, executions)):
            eid = base + i + 1
            t = now - (executions - i) * (30 * 86400 / executions)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(t))
            dur = rng.uniform(50, 5000)
            end = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(t + dur / 1000))
            status = rng.choice(statuses)
            wid, name = workflows[i % len(workflows)]
            rows.append(
                (eid, wid, name, 1, "{}", status, "manual", False, stamp, stamp, end, dur, None)
            )
            for s in range(steps_per):
                srows.append(
                    (eid, f"s{s}", s, 1, "succeeded", stamp, end, dur / steps_per, 0, None, None)
                )
        yield rows, srows


_TALLIES = (
    "UPDATE workflow SET last_execution_id = (SELECT max(id) {of}),"
    " runs = (SELECT count(*) {of} AND e.status != 'cancelled'),"
    " succeeded = (SELECT count(*) {of} AND e.status = 'succeeded')"
).format(of="FROM execution e WHERE e.workflow_id = workflow.id")


def _fill_sqlite(db: store.Store, chunks: Iterator[_Chunk]) -> None:
    assert db.path is not None
    conn = sqlite3.connect(db.path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    for rows, srows in chunks:
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO execution ({_EXEC_COLUMNS}) VALUES ({'?,' * 12}?)", rows)
        conn.executemany(f"INSERT INTO step_run ({_STEP_COLUMNS}) VALUES ({'?,' * 10}?)", srows)
        conn.execute("COMMIT")
    conn.execute(_TALLIES)
    conn.execute("ANALYZE")
    conn.close()


def _fill_postgresql(db: store.Store, chunks: Iterator[_Chunk]) -> None:
    """COPY, the bulk path PostgreSQL has (sessions are in UTC, as the store's are)."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for rows, srows in chunks:
            with cursor.copy(f"COPY execution ({_EXEC_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            with cursor.copy(f"COPY step_run ({_STEP_COLUMNS}) FROM STDIN") as copy:
                for row in srows:
                    copy.write_row(row)
            raw.commit()
        cursor.execute(_TALLIES)
        # The ids were given: the next execution the engine creates must come after them.
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('execution', 'id'),"
            " (SELECT max(id) FROM execution))"
        )
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def _percentiles(fn: Callable[[], object], n: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


@dataclass
class Report:
    quick: bool
    results: list[Result]
    machine: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "quick": self.quick,
            "machine": self.machine,
            "seconds": self.seconds,
            "scenarios": {r.name: r.as_dict() for r in self.results},
        }


def machine() -> str:
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    return f"{system}, Python {platform.python_version()}"


def run(
    *, quick: bool = False, url: str | None = None, progress: Callable[[str], None] = lambda s: None
) -> Report:
    began = time.perf_counter()
    repeats = 3 if quick else 5
    results: list[Result] = []
    with _fresh_store(url) as db:
        for w in range(10):
            _add(db, _log_workflow(f"tp-{w}", 1000))
        _add(db, _log_workflow("large", 1000))
        _add(
            db,
            "name: conc\nsteps:\n" + "".join(f"  - {{id: s{i}, sleep: 10ms}}\n" for i in range(5)),
        )
        _add(
            db,
            "name: shell\nsteps:\n"
            + "".join(f"  - {{id: s{i}, run: 'true'}}\n" for i in range(500)),
        )

        async def engine_side() -> dict[str, Any]:
            out: dict[str, Any] = {"tp": [], "large": [], "conc": [], "shell": []}
            async with executor.open_executor(db, max_concurrent_executions=1000) as ex:
                await _throughput(ex, 10)  # warm-up: parse, plan, page cache
                await _large(ex)
                for _ in range(repeats):
                    progress("throughput")
                    out["tp"].append(10_000 / await _throughput(ex, 10))
                for _ in range(repeats):
                    progress("large workflow")
                    out["large"].append(await _large(ex))
                progress("memory")
                gc.collect()
                before = rss_bytes()
                await _throughput(ex, 10)
                gc.collect()
                out["memory"] = (rss_bytes() - before) / 1e6
                for _ in range(repeats):
                    progress("concurrency")
                    out["conc"].append(await _concurrency(ex, db, 1000))
                for _ in range(repeats):
                    progress("shell")
                    start = time.perf_counter()
                    await ex.run("shell")
                    out["shell"].append(500 / (time.perf_counter() - start))
            return out

        measured = trio.run(engine_side)
        progress("floor")
        with tempfile.TemporaryDirectory(prefix="wfe-floor-") as tmp:
            _floor(Path(tmp) / "floor.db", 10, 1000)  # warm-up, as the engine had
            floors = [10_000 / _floor(Path(tmp) / "floor.db", 10, 1000) for _ in range(repeats)]
        plain = [500 / _plain_spawns(500) for _ in range(repeats)]

        tp = Result(
            "throughput",
            "steps/s",
            measured["tp"],
            SEED["throughput"],
            "≥ 20,000 and ≥ 30% of floor",
        )
        tp.floor_ratio = tp.median / statistics.median(floors)
        results.append(tp)
        results.append(
            Result(
                "large_workflow",
                "ms",
                measured["large"],
                SEED["large_workflow"],
                "≤ 60 ms",
                higher_is_better=False,
            )
        )
        results.append(
            Result(
                "memory",
                "MB",
                [measured["memory"]],
                SEED["memory"],
                "≤ 10 MB",
                higher_is_better=False,
            )
        )
        conc = Result(
            "concurrency",
            "s",
            [c[0] for c in measured["conc"]],
            None,
            "≤ 2 s, none waits",
            higher_is_better=False,
        )
        conc.extra = {
            "executions": 1000,
            "max_queue_wait_ms": max(c[1] for c in measured["conc"]),
            "peak_running": max(c[2] for c in measured["conc"]),
        }
        results.append(conc)
        sh = Result("shell", "steps/s", measured["shell"], None, "≥ 80% of plain spawns")
        sh.floor_ratio = sh.median / statistics.median(plain)
        sh.extra = {"plain_spawns_per_s": statistics.median(plain)}
        results.append(sh)
        results.append(Result("floor", "steps/s", floors, None, "trio + sqlite3, batched"))

    if not quick:
        progress("dashboard (filling 1,000,000 executions)")
        results.extend(_dashboard(url))
    return Report(quick, results, machine(), time.perf_counter() - began)


def _dashboard(url: str | None) -> list[Result]:
    if url is None or url.startswith("sqlite"):
        with _fresh_store(None) as db:
            _bulk_fill(db, 1_000_000, 5)
            return _dashboard_queries(db)
    # PostgreSQL: the database the bench was given (it holds the bench's runs already).
    db = store.open_store(url)
    try:
        _bulk_fill(db, 1_000_000, 5)
        return _dashboard_queries(db)
    finally:
        db.close()


def _dashboard_queries(db: store.Store) -> list[Result]:
    since = store.since_hours(24)
    out = []
    for name, fn in [
        ("dashboard_stats", lambda: store.stats(db, since=since)),
        ("dashboard_recent", lambda: store.recent_executions(db, limit=20)),
        ("dashboard_workflows", lambda: store.list_workflows(db, limit=50)),
    ]:
        p50, p99 = _percentiles(fn, 200)
        r = Result(name, "ms p50", [p50], None, "p99 ≤ 20 ms", higher_is_better=False)
        r.extra = {"p99_ms": p99}
        out.append(r)
    return out


def format_table(report: Report) -> str:
    title = "wfe bench --quick" if report.quick else "wfe bench"
    lines = [
        f"{title} on {report.machine} ({report.seconds:.0f} s)",
        "",
        f"{'scenario':<20} {'ours (median)':>16} {'min-max':>21} {'seed':>7} {'vs seed':>8}"
        f" {'floor':>6}  target",
    ]
    for r in report.results:
        ours = f"{r.median:,.1f} {r.unit}" if r.median < 100 else f"{r.median:,.0f} {r.unit}"
        span = f"{min(r.samples):,.1f}-{max(r.samples):,.1f}" if len(r.samples) > 1 else ""
        seed = f"{r.seed:,.0f}" if r.seed is not None else "-"
        vs = f"{r.vs_seed:,.1f}x" if r.vs_seed is not None else "-"
        floor = f"{r.floor_ratio:.0%}" if r.floor_ratio is not None else "-"
        notes = r.target
        if "p99_ms" in r.extra:
            notes += f" (p99 {r.extra['p99_ms']:.1f} ms)"
        if "max_queue_wait_ms" in r.extra:
            notes += (
                f" (peak {r.extra['peak_running']} running,"
                f" max wait {r.extra['max_queue_wait_ms']:.0f} ms)"
            )
        if "plain_spawns_per_s" in r.extra:
            notes += f" (plain: {r.extra['plain_spawns_per_s']:,.0f}/s)"
        lines.append(f"{r.name:<20} {ours:>16} {span:>21} {seed:>7} {vs:>8} {floor:>6}  {notes}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Workers: queue to first step, and executions/s through two workers
# ---------------------------------------------------------------------------


def _start_worker(url: str, concurrency: int) -> subprocess.Popen[bytes]:
    import sys

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
    import signal

    with tempfile.TemporaryDirectory(prefix="wfe-workers-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'workers.db'}"
        db = store.open_store(url)
        _add(db, "name: one\nsteps:\n  - {id: a, log: x}\n")
        row = store.get_workflow(db, "one")
        procs = [_start_worker(url, 8)]
        try:
            _wait(lambda: bool(store.live_workers(db)))
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
            _wait(lambda: len(store.live_workers(db)) == 2)
            start = time.perf_counter()
            store.create_executions(db, row, [{}] * executions, trigger="detached")
            _wait(lambda: store.stats(db).succeeded == samples + executions, timeout=300)
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
