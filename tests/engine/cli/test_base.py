"""What every command shares: errors in one line, and which store it opens."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from engine import store
from tests.support import REPO, Wfe


def test_store_errors_are_one_line(wfe: Wfe, tmp_path: Path) -> None:
    not_db = tmp_path / "notes.txt"
    not_db.write_text("hello " * 1000)
    proc = wfe.invoke("--db", str(not_db), "workflow", "list")
    assert proc.exit_code == 1
    assert proc.stderr == f"error: cannot open the database {not_db}: file is not a database\n"

    newer = tmp_path / "newer.db"
    assert wfe.invoke("--db", str(newer), "stats").exit_code == 0
    with sqlite3.connect(newer) as conn:
        conn.execute(f"UPDATE wfe_meta SET value = '{store.SCHEMA_VERSION + 1}'")
    proc = wfe.invoke("--db", str(newer), "stats")
    newer_schema = f"written by a newer WorkflowEngine (schema {store.SCHEMA_VERSION + 1}"
    assert proc.exit_code == 1 and newer_schema in proc.stderr
    assert len(proc.stderr.splitlines()) == 1

    (tmp_path / "file").write_text("")
    proc = wfe.invoke("--db", str(tmp_path / "file" / "x.db"), "stats")
    assert proc.exit_code == 1 and proc.stderr.startswith("error: cannot create the database")
    assert len(proc.stderr.splitlines()) == 1


def test_default_database_lives_in_the_user_data_folder(tmp_path: Path) -> None:
    # A real process: where the data folder is comes from its environment (HOME, XDG).
    env = {k: v for k, v in os.environ.items() if k != "WFE_DATABASE_URL"}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "health", "--json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "data" / "workflow-engine" / "workflow-engine.db"
    assert json.loads(proc.stdout)["url"] == f"sqlite:///{db}"
    assert db.stat().st_mode & 0o777 == 0o600
