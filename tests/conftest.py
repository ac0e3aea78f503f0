from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import definition, store

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path: Path) -> Iterator[store.Store]:
    s = store.open_store(f"sqlite:///{tmp_path / 'wfe.db'}")
    yield s
    s.close()


def start_wfe(wfe, *args: str) -> subprocess.Popen[str]:
    """``wfe ARGS`` as a real process on the test's store (``wfe``: the fixture)."""
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args],
        env=wfe.env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def add(db: store.Store, text: str) -> definition.Workflow:
    wf = definition.parse(textwrap.dedent(text), "test.yaml")
    store.save_workflows(db, [(wf, None)])
    return wf


@pytest.fixture
def wfe(tmp_path: Path):
    """Run the real `wfe` command on a temporary database; returns CompletedProcess."""
    env = {**os.environ, "WFE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "NO_COLOR": "1"}

    def run(*args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "engine.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            cwd=kw.pop("cwd", REPO),  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )

    run.env = env  # type: ignore[attr-defined]
    return run
