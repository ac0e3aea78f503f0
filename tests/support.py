"""What the engine's tests share: a store's URL, a workflow added, `wfe` run in-process or
as a real process, a PostgreSQL database of their own, and waiting on a real process.

Fixtures that hand these out live in ``tests/conftest.py``; tests import from here, never
from a conftest.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from engine import cli, definition, runtime, store

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

# The PostgreSQL server the tests make their own databases on (trust auth), and drop.
POSTGRES_ADMIN = os.environ.get(
    "WFE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@functools.cache
def postgres_missing() -> str | None:
    """Why PostgreSQL tests cannot run here, or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3, autocommit=True):
            pass
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {POSTGRES_ADMIN} ({' '.join(str(exc).split())})"
    return None


@contextlib.contextmanager
def postgres_database(encoding: str | None = None) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (in ``encoding``, else the
    server's default); its URL. Dropped afterwards."""
    missing = postgres_missing()
    if missing:
        pytest.skip(missing)
    import psycopg

    name = f"wfe_test_{uuid.uuid4().hex[:12]}"
    how = (
        f" TEMPLATE template0 ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C'" if encoding else ""
    )
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{how}')
    try:
        yield str(make_url(POSTGRES_ADMIN).set(database=name).render_as_string(False))
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def add(db: store.Store, text: str) -> definition.Workflow:
    """Parse a workflow (indented as in the test) and save it."""
    wf = definition.parse(textwrap.dedent(text), "test.yaml")
    store.save_workflows(db, [(wf, None)])
    return wf


# An executor that never polls the store for `wfe cancel` (tests cancel it directly).
NO_POLL = {"cancel_poll_interval": math.inf}


async def run(
    db: store.Store, name: str, params: dict[str, Any] | None = None, **kw: Any
) -> runtime.ExecutionHandle:
    """Run workflow ``name`` to its end on an executor of its own."""
    async with runtime.open_executor(db, **{**NO_POLL, **kw}) as ex:
        return await ex.run(name, params)


def steps_of(db: store.Store, execution_id: int) -> dict[str, tuple[str, int]]:
    """Each step's latest status and attempt."""
    return {
        r.step_id: (r.status, r.attempt)
        for r in store.step_runs(db, execution_id, latest_only=True)
    }


def logs_of(db: store.Store, execution_id: int) -> list[str]:
    return [line.text for line in store.log_lines(db, execution_id)]


class Wfe:
    """The `wfe` command on one store: in this process (click's runner), or as a real one.

    ``wfe("run", "w")`` runs it in-process with ``--db URL`` and returns click's
    :class:`~click.testing.Result` (``.stdout``, ``.stderr``, ``.exit_code``); an
    exception that escapes the command fails the test (a traceback is a bug).
    :meth:`process` and :meth:`start` run ``python -m engine.cli`` with the store in
    ``WFE_DATABASE_URL``, where a real process is what the test is about.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.env = {**os.environ, "WFE_DATABASE_URL": url, "NO_COLOR": "1"}

    def __call__(self, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
        return self.invoke("--db", self.url, *args, env=env)

    def invoke(self, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
        """``wfe ARGS`` in-process, exactly as given (no ``--db`` added)."""
        return CliRunner().invoke(
            cli.main, list(args), env=env, catch_exceptions=False, prog_name="wfe"
        )

    def process(
        self, *args: str, timeout: float = 60, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``wfe ARGS`` as a real process, run to its end."""
        return subprocess.run(
            [sys.executable, "-m", "engine.cli", *args],
            capture_output=True,
            text=True,
            env=self.env if env is None else env,
            timeout=timeout,
            cwd=REPO,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """``wfe ARGS`` as a real process, left running."""
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", *args],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def wait_until(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    """Poll what a real process does (a file it writes, a row it commits)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie is dead for our purpose)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def write_lock_held(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the SQLite store's write lock until the block ends."""
    code = (
        "import sqlite3, sys\n"
        f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.readline()\n"
        "c.execute('COMMIT')\n"
    )
    locker = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
    try:
        yield locker
    finally:
        assert locker.stdin is not None
        locker.stdin.write("\n")
        locker.stdin.close()
        locker.wait(timeout=10)
