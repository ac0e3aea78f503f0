"""Seeded stores and a console app factory for the console tests."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console import config as console_config
from console.app import WorkflowConsole
from engine import definition, store

# A developer's own NO_COLOR must not change what the tests draw (Rich reads it when a
# console is made, some of them at import); test_terminal sets it where it is the subject.
os.environ.pop("NO_COLOR", None)

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def fixed_health(db: store.Store) -> store.Health:
    return store.Health(
        "sqlite:////data/workflow-engine.db", True, store.SCHEMA_VERSION, 1_234_567, 80_000_000_000
    )


def seed(db: store.Store) -> None:
    """The bundled examples and a known history, at fixed times."""
    items = [(definition.load(f), None) for f in definition.workflow_files(EXAMPLES)]
    store.save_workflows(db, items)
    ids = {s.workflow.name: s.workflow.id for s in store.list_workflows(db)[0]}
    assert db.path is not None
    conn = sqlite3.connect(db.path, isolation_level=None)

    def t(minutes: float) -> str:
        return (
            (NOW - timedelta(minutes=minutes)).replace(tzinfo=None).isoformat(" ", "microseconds")
        )

    history = [
        (1, "release-artifact", "succeeded", 180, 2400.0, None),
        (2, "fan-out", "succeeded", 120, 870.0, None),
        (
            3,
            "flaky-retry",
            "failed",
            60,
            1500.0,
            "step 'flaky' failed: exited with code 1: upstream not ready yet",
        ),
        (4, "service-check", "cancelled", 30, 300.0, "cancelled from the console"),
        (5, "flaky-retry", "succeeded", 5, 640.0, None),
    ]
    conn.execute("BEGIN")
    for eid, name, status, ago, duration, error in history:
        conn.execute(
            "INSERT INTO execution (id, workflow_id, workflow_name, version, params, status, trigger,"
            " cancel_requested, queued_at, started_at, finished_at, duration_ms, error)"
            " VALUES (?,?,?,1,'{}',?,'manual',0,?,?,?,?,?)",
            (
                eid,
                ids[name],
                name,
                status,
                t(ago),
                t(ago),
                t(ago - duration / 60000),
                duration,
                error,
            ),
        )
        conn.execute(
            "UPDATE workflow SET last_execution_id = ?, runs = runs + ?, succeeded = succeeded + ?"
            " WHERE id = ?",
            (eid, status != "cancelled", status == "succeeded", ids[name]),
        )
    steps = [
        ("flaky", 1, "failed", 1, "exited with code 1: attempt 1: upstream not ready yet"),
        ("flaky", 2, "failed", 1, "exited with code 1: attempt 2: upstream not ready yet"),
        ("flaky", 3, "succeeded", 0, None),
        ("report", 1, "succeeded", None, None),
        ("tidy", 1, "succeeded", 0, None),
    ]
    for position, (step_id, attempt, status, code, error) in enumerate(steps):
        conn.execute(
            "INSERT INTO step_run (execution_id, step_id, position, attempt, status, started_at,"
            " finished_at, duration_ms, exit_code, output, error) VALUES (5,?,?,?,?,?,?,?,?,NULL,?)",
            (step_id, position, attempt, status, t(5), t(4.9), 8.0, code, error),
        )
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
    for seq, (step_id, stream, text) in enumerate(lines, start=1):
        conn.execute(
            "INSERT INTO log_line (execution_id, step_id, seq, time, stream, text) VALUES (5,?,?,?,?,?)",
            (step_id, seq, t(5), stream, text),
        )
    conn.execute("COMMIT")
    conn.close()


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
    ) -> WorkflowConsole:
        cfg = console_config.Config(theme=theme, keys=keys or {}, path=tmp_path / "config.toml")
        app = WorkflowConsole(
            db,
            clock=lambda: NOW,
            memory=lambda: 42_000_000,
            health=fixed_health,
            config=cfg,
            embedded_executor=embedded,
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

    return make
