from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from engine import definition, store

REPO = Path(__file__).resolve().parent.parent


# The PostgreSQL server the tests make their own databases on (trust auth), and drop.
POSTGRES_ADMIN = os.environ.get(
    "WFE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@functools.cache
def _postgres_missing() -> str | None:
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
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; its URL. Dropped afterwards."""
    missing = _postgres_missing()
    if missing:
        pytest.skip(missing)
    import psycopg

    name = f"wfe_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(make_url(POSTGRES_ADMIN).set(database=name).render_as_string(False))
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A test module lists the stores its `db` tests run on: BACKENDS = ("sqlite", ...).
    backends = getattr(metafunc.module, "BACKENDS", None)
    if backends and "db" in metafunc.fixturenames:
        metafunc.parametrize("db", backends, indirect=True)


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[store.Store]:
    if getattr(request, "param", "sqlite") == "postgresql":
        with postgres_database() as url:
            s = store.open_store(url)
            yield s
            s.close()
        return
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
    return _wfe_on(f"sqlite:///{tmp_path / 'cli.db'}")


@pytest.fixture
def wfe_pg():
    """The `wfe` fixture on a new PostgreSQL database (skipped where there is no server)."""
    with postgres_database() as url:
        yield _wfe_on(url)


def _wfe_on(url: str):
    env = {**os.environ, "WFE_DATABASE_URL": url, "NO_COLOR": "1"}

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
