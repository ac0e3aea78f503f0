"""Seeded stores and a console app factory for the console tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console import config as console_config
from console.app import WorkflowConsole
from engine import definition, store
from tests.console.support import NOW, fixed_health
from tests.support import EXAMPLES

# A developer's own NO_COLOR must not change what the tests draw (Rich reads it when a
# console is made, some of them at import); test_terminal sets it where it is the subject.
os.environ.pop("NO_COLOR", None)


# The examples the pictures were taken with: a new example changes no snapshot.
SEEDED = ("fan-out", "flaky-retry", "release-artifact", "service-check")


def seed(db: store.Store) -> None:
    """Bundled examples and a known history at fixed times, through the store's API."""
    items = [(definition.load(EXAMPLES / f"{name}.yaml"), None) for name in SEEDED]
    store.save_workflows(db, items)
    workflows = {s.workflow.name: s.workflow for s in store.list_workflows(db)[0]}

    def t(minutes: float) -> datetime:
        return NOW - timedelta(minutes=minutes)

    history = [
        ("release-artifact", "succeeded", 180, 2400.0, None),
        ("fan-out", "succeeded", 120, 870.0, None),
        (
            "flaky-retry",
            "failed",
            60,
            1500.0,
            "step 'flaky' failed: exited with code 1: upstream not ready yet",
        ),
        ("service-check", "cancelled", 30, 300.0, "cancelled from the console"),
        ("flaky-retry", "succeeded", 5, 640.0, None),
    ]
    changes: dict[int, dict[str, Any]] = {}
    finished = []
    for name, status, ago, duration, error in history:
        (e,) = store.create_executions(db, workflows[name], [{}])
        changes[e.id] = {
            "status": status,
            "queued_at": t(ago),
            "started_at": t(ago),
            "finished_at": t(ago - duration / 60000),
            "duration_ms": duration,
            "error": error,
        }
        finished.append((e.id, e.workflow_id, status))
    last = e.id  # the flaky-retry that succeeded on its third attempt
    steps = [
        ("flaky", 1, "failed", 1, "exited with code 1: attempt 1: upstream not ready yet"),
        ("flaky", 2, "failed", 1, "exited with code 1: attempt 2: upstream not ready yet"),
        ("flaky", 3, "succeeded", 0, None),
        ("report", 1, "succeeded", None, None),
        ("tidy", 1, "succeeded", 0, None),
    ]
    runs = [
        {
            "execution_id": last,
            "step_id": step_id,
            "position": position,
            "attempt": attempt,
            "status": status,
            "started_at": t(5),
            "finished_at": t(4.9),
            "duration_ms": 8.0,
            "exit_code": code,
            "output": None,
            "error": error,
            "host": None,
            "pid": None,
        }
        for position, (step_id, attempt, status, code, error) in enumerate(steps)
    ]
    lines = [
        ("flaky", "stderr", "attempt 1: upstream not ready yet"),
        (
            "flaky",
            "system",
            "attempt 1 failed: exited with code 1: attempt 1: upstream not ready yet",
        ),
        ("flaky", "system", "attempt 2 of 4 in 200ms"),
        ("flaky", "stderr", "attempt 2: upstream not ready yet"),
        (
            "flaky",
            "system",
            "attempt 2 failed: exited with code 1: attempt 2: upstream not ready yet",
        ),
        ("flaky", "system", "attempt 3 of 4 in 400ms"),
        ("flaky", "stdout", "attempt 3: ok"),
        ("report", "log", "attempt 3: ok"),
    ]
    logs = [
        {
            "execution_id": last,
            "step_id": step_id,
            "seq": seq,
            "time": t(5),
            "stream": stream,
            "text": text,
        }
        for seq, (step_id, stream, text) in enumerate(lines, start=1)
    ]
    store.write_batch(
        db,
        store.Batch(
            step_inserts=runs, step_updates=[], logs=logs, executions=changes, finished=finished
        ),
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[store.Store]:
    s = store.open_store(f"sqlite:///{tmp_path / 'console.db'}")
    yield s
    s.close()


@pytest.fixture
def seeded(db: store.Store) -> store.Store:
    seed(db)
    return db


@pytest.fixture
def make_app(tmp_path: Path):
    def make(
        db: store.Store,
        *,
        embedded: bool = True,
        keys: dict[str, str] | None = None,
        theme: str = "wfe-dark",
        read_only: bool = False,
        clock: Callable[[], datetime] | None = None,
        context: str = "default",
    ) -> WorkflowConsole:
        cfg = console_config.Config(theme=theme, keys=keys or {}, path=tmp_path / "config.toml")
        app = WorkflowConsole(
            db,
            clock=clock or (lambda: NOW),
            memory=lambda: 42_000_000,
            health=fixed_health,
            config=cfg,
            embedded_executor=embedded,
            read_only=read_only,
            context=context,
        )
        # What the app showed, kept: Textual drops a notification once it times out.
        shown: list[str] = []
        notify = app.notify

        def recording(message: str, **kwargs: Any) -> None:
            shown.append(message)
            notify(message, **kwargs)

        app.notify = recording  # type: ignore[method-assign]
        app.shown = shown  # type: ignore[attr-defined]
        return app

    make.config = console_config.Config(path=tmp_path / "config.toml")  # type: ignore[attr-defined]
    return make
