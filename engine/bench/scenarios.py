"""The engine's scenarios: throughput, a large workflow, memory, concurrency, shells."""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import trio

from engine import definition, memory, runtime, store
from engine.bench import dashboard, floor
from engine.bench.results import SEED, Report, Result, machine
from engine.errors import StoreError

# ---------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------


def _log_workflow(name: str, steps: int) -> str:
    body = "".join(f"  - id: s{i}\n    log: step {i}\n" for i in range(steps))
    return f"name: {name}\nsteps:\n{body}"


def _fanout_workflows(items: int, shell_items: int) -> list[str]:
    """A foreach over ``items`` log items and one over ``shell_items`` of ``run: "true"``,
    beside the same counts of plain steps (a chain of logs; shells side by side)."""
    return [
        f"name: fan-log\nsteps:\n  - {{id: s, foreach: {list(range(items))}, log: 'item'}}\n",
        _log_workflow("plain-log", items),
        f"name: fan-shell\nsteps:\n  - {{id: s, foreach: {list(range(shell_items))},"
        " run: 'true'}\n",
        "name: plain-shell\nsteps:\n"
        + "".join(f"  - {{id: s{i}, needs: [], run: 'true'}}\n" for i in range(shell_items)),
    ]


async def _steps_per_s(ex: runtime.Executor, name: str, count: int) -> float:
    start = time.perf_counter()
    await ex.run(name)
    return count / (time.perf_counter() - start)


def add_workflow(db: store.Store, text: str) -> None:
    store.save_workflows(db, [(definition.parse(text, "bench"), None)])


@contextmanager
def fresh_store(url: str | None, name: str = "bench") -> Iterator[store.Store]:
    """The empty database at ``url``, or a fresh temporary SQLite file."""
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
    with tempfile.TemporaryDirectory(prefix=f"wfe-{name}-") as tmp:
        db = store.open_store(f"sqlite:///{Path(tmp) / f'{name}.db'}")
        try:
            yield db
        finally:
            db.close()


async def _throughput(ex: runtime.Executor, workflows: int) -> float:
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for w in range(workflows):
            nursery.start_soon(ex.run, f"tp-{w}")
    return time.perf_counter() - start


async def _large(ex: runtime.Executor) -> float:
    start = time.perf_counter()
    handle = await ex.start("large")
    await handle.wait()  # returns once the execution's end is committed
    return (time.perf_counter() - start) * 1000


async def _concurrency(
    ex: runtime.Executor, db: store.Store, count: int
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


def run(
    *, quick: bool = False, url: str | None = None, progress: Callable[[str], None] = lambda s: None
) -> Report:
    """Every engine scenario on a fresh store (or the empty database at ``url``)."""
    began = time.perf_counter()
    repeats = 3 if quick else 5
    results: list[Result] = []
    with fresh_store(url) as db:
        for w in range(10):
            add_workflow(db, _log_workflow(f"tp-{w}", 1000))
        add_workflow(db, _log_workflow("large", 1000))
        add_workflow(
            db,
            "name: conc\nsteps:\n" + "".join(f"  - {{id: s{i}, sleep: 10ms}}\n" for i in range(5)),
        )
        add_workflow(
            db,
            "name: shell\nsteps:\n"
            + "".join(f"  - {{id: s{i}, run: 'true'}}\n" for i in range(500)),
        )
        fan_items, fan_shells = (2_000, 200) if quick else (10_000, 1_000)
        for text in _fanout_workflows(fan_items, fan_shells):
            add_workflow(db, text)

        async def engine_side() -> dict[str, Any]:
            out: dict[str, Any] = {"tp": [], "large": [], "conc": [], "shell": []}
            async with runtime.open_executor(db, max_concurrent_executions=1000) as ex:
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
                before = memory.rss_bytes()
                await _throughput(ex, 10)
                gc.collect()
                out["memory"] = (memory.rss_bytes() - before) / 1e6
                for _ in range(repeats):
                    progress("concurrency")
                    out["conc"].append(await _concurrency(ex, db, 1000))
                for _ in range(repeats):
                    progress("shell")
                    start = time.perf_counter()
                    await ex.run("shell")
                    out["shell"].append(500 / (time.perf_counter() - start))
                for name in ("fan-log", "plain-log", "fan-shell", "plain-shell"):
                    await ex.run(name)  # warm-up: each definition parsed and cached once
                for _ in range(repeats):
                    progress("fan-out")
                    # Each beside its plain twin, in turns, so that drift hits both alike.
                    for name, count in (
                        ("fan-log", fan_items),
                        ("plain-log", fan_items),
                        ("fan-shell", fan_shells),
                        ("plain-shell", fan_shells),
                    ):
                        out.setdefault(name, []).append(await _steps_per_s(ex, name, count))
            return out

        measured = trio.run(engine_side)
        progress("floor")
        with tempfile.TemporaryDirectory(prefix="wfe-floor-") as tmp:
            floor_db = Path(tmp) / "floor.db"
            floor.throughput(floor_db, 10, 1000)  # warm-up, as the engine had
            floors = [10_000 / floor.throughput(floor_db, 10, 1000) for _ in range(repeats)]
        plain = [500 / floor.plain_spawns(500) for _ in range(repeats)]

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
        for kind, count in (("log", fan_items), ("shell", fan_shells)):
            fan = Result(
                f"fanout_{kind}", "items/s", measured[f"fan-{kind}"], None, "≥ 70% of plain steps"
            )
            fan.floor_ratio = fan.median / statistics.median(measured[f"plain-{kind}"])
            fan.extra = {
                "items": count,
                "plain_steps_per_s": statistics.median(measured[f"plain-{kind}"]),
            }
            results.append(fan)

        if not quick:
            progress("dashboard (filling 1,000,000 executions)")
            dashboard.bulk_fill(db, 1_000_000, 5)
            results.extend(dashboard.queries(db))
    return Report(quick, results, machine(), time.perf_counter() - began)
