"""Driving the console in tests: run a scenario, wait for its reads, look at tables."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable
from textual.worker import WorkerState

from console.app import WorkflowConsole
from engine import store

Scenario = Callable[[WorkflowConsole, Pilot[Any]], Awaitable[None]]

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)  # the console tests' clock


def fixed_health(db: store.Store) -> store.Health:
    """A health probe that says the same on every machine (for snapshots)."""
    return store.Health(
        "sqlite:////data/workflow-engine.db", True, store.SCHEMA_VERSION, 1_234_567, 80_000_000_000
    )


def drive(app: WorkflowConsole, scenario: Scenario, size: tuple[int, int] = (120, 40)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            try:
                await scenario(app, pilot)
                if app.is_running:
                    await pilot.press("q")
                    await settle(pilot)
            finally:
                # A failed scenario must not leave trio running on a closed loop (the
                # next test would hang).
                if app.host is not None:
                    await app.host.stop()

    asyncio.run(main())


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def rows(table: DataTable[Any]) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def notes(app: WorkflowConsole) -> list[str]:
    """Every notification the app showed (recorded by make_app; Textual forgets them)."""
    return list(app.shown)  # type: ignore[attr-defined]


async def settle(pilot: Pilot[Any]) -> None:
    """Let the key's effect and the reads it set off (Textual workers) finish.

    A read may set off another (a page follows the running step, a forced refresh
    follows the step order): wait until a pause finds none under way. Workers of the
    "actions" group wait for an answer in a modal: those are left alone.
    """
    app = pilot.app
    for _ in range(20):
        await pilot.pause()
        reads = [
            w
            for w in app.workers
            if w.group != "actions" and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
        ]
        if not reads:
            break
        await app.workers.wait_for_complete(reads)
    await pilot.pause()  # what the last read drew settles (a table measures its columns)
