"""Opening a store: the file, its pragmas, and every way opening can fail in one line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine import store
from engine.errors import StoreError


def test_open_store_creates_owner_only_file_with_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "wfe.db"
    db = store.open_store(f"sqlite:///{path}")
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with db.engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in (
                    "journal_mode",
                    "synchronous",
                    "temp_store",
                    "busy_timeout",
                    "mmap_size",
                )
            }
        assert pragma == {
            "journal_mode": "wal",
            "synchronous": 1,
            "temp_store": 2,
            "busy_timeout": 10000,
            "mmap_size": 268435456,
        }
    finally:
        db.close()


def test_open_store_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(
        StoreError, match=r"^cannot open the database .*notes.db: file is not a database$"
    ):
        store.open_store(f"sqlite:///{path}")


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root can write to read-only folders, so the error cannot happen"
)
def test_open_store_in_unwritable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(StoreError, match=r"^cannot create the database .*: Permission denied$"):
        store.open_store(f"sqlite:///{folder / 'sub' / 'x.db'}")


def test_open_store_in_a_path_blocked_by_a_file(tmp_path: Path) -> None:
    # Works as root too: a regular file where the data folder should be.
    (tmp_path / "blocker").write_text("")
    with pytest.raises(
        StoreError,
        match=r"^cannot create the database .*blocker/x.db: (File exists|Not a directory)$",
    ):
        store.open_store(f"sqlite:///{tmp_path / 'blocker' / 'x.db'}")


def test_open_store_bad_url() -> None:
    with pytest.raises(
        StoreError,
        match=r"^cannot use nonsense://: unknown database 'nonsense'; use sqlite:///PATH or postgresql://HOST/NAME$",
    ):
        store.open_store("nonsense://")


def test_postgresql_without_its_driver_says_what_to_install(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(StoreError, match=r"pip install 'workflow-engine\[postgres\]'$"):
        store.open_store("postgresql://someone:pw@127.0.0.1/wfe")
