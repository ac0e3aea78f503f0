"""What each screen looks like, at 80x24 and 120x40, in each theme.

Seeded data, a fixed clock and a fixed health probe: nothing in the picture depends on
the wall clock or the machine. Update with `pytest --snapshot-update` after a deliberate
change, and look at the report before committing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from engine import store
from tests.console.support import settle

SCREENS: dict[str, tuple[str, ...]] = {
    "dashboard": (),
    "workflows": ("2",),
    "workflow_detail": ("2", "enter"),
    "executions": ("3",),
    "execution_detail": ("3", "enter"),
    "health": ("4",),
    "help": ("3", "enter", "question_mark"),
    "timeline": ("3", "enter", "T"),
    "command": ("colon",),
    "charts": ("C",),
    "contexts": ("colon", *"ctx", "enter"),
}


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Charts label their axes in local time: the same picture on every machine."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture(autouse=True)
def stores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The stores :ctx lists: the same on every machine."""
    monkeypatch.setenv("WFE_DATABASE_URL", "sqlite:////data/workflow-engine.db")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("WFE_CONTEXT", raising=False)
    path = tmp_path / "workflow-engine" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[contexts.prod]\nurl = "postgresql://db.internal/wfe"\nread_only = true\n')


@pytest.mark.parametrize("theme", ["wfe-dark", "wfe-light", "wfe-ansi"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(
    screen: str, size: tuple[int, int], theme: str, seeded: store.Store, make_app, snap_compare
) -> None:
    app = make_app(seeded, embedded=False, theme=theme)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in SCREENS[screen]:
            await pilot.press(key)
            await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
