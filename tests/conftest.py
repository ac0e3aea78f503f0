"""Fixtures for every test: a store (SQLite, or PostgreSQL where a module asks), `wfe` on it.

Helpers live in :mod:`tests.support`; import them from there, never from here.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import store
from tests.support import Wfe, postgres_database


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A test module lists the stores its store tests run on: BACKENDS = ("sqlite", ...).
    # A test that takes `db` or `db_url` runs on each; one that takes only `wfe` (a CLI
    # test) stays on SQLite.
    backends = getattr(metafunc.module, "BACKENDS", None)
    if backends and {"db", "db_url"} & set(inspect.signature(metafunc.function).parameters):
        metafunc.parametrize("db_url", backends, indirect=True)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The test's store: a SQLite file in ``tmp_path``, or a new PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "postgresql":
        with postgres_database() as url:
            yield url
        return
    yield f"sqlite:///{tmp_path / 'wfe.db'}"


@pytest.fixture
def db(db_url: str) -> Iterator[store.Store]:
    s = store.open_store(db_url)
    yield s
    s.close()


@pytest.fixture
def wfe(db_url: str) -> Wfe:
    """`wfe` on the test's store (see :class:`tests.support.Wfe`)."""
    return Wfe(db_url)
