"""``wfe stats`` and ``wfe health``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine import store
from tests.support import Wfe


def test_health_reports_the_store(wfe: Wfe) -> None:
    health = json.loads(wfe("health", "--json").stdout)
    assert health["reachable"] is True and health["schema_version"] == store.SCHEMA_VERSION
    assert health["process_rss_bytes"] > 0 and health["free_disk_bytes"] > 0


def test_the_database_file_a_command_creates_is_owner_only(wfe: Wfe, tmp_path: Path) -> None:
    # A real process: the file is created as `wfe` creates it, under its own umask.
    proc = wfe.process("health", "--json")
    assert proc.returncode == 0, proc.stderr
    assert os.stat(tmp_path / "wfe.db").st_mode & 0o777 == 0o600
