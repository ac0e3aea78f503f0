"""The floors: the bench's work done the most direct way, in the same process.

The throughput floor is trio tasks and plain ``sqlite3`` batched writes; the shell floor
is plain ``subprocess.run`` spawns. Ratios against them hold on a noisy machine.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import trio

from engine.steps import shell


def throughput(path: Path, workflows: int, steps: int) -> float:
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


def plain_spawns(count: int) -> float:
    argv = shell.shell_argv("true")
    start = time.perf_counter()
    for _ in range(count):
        subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return time.perf_counter() - start
