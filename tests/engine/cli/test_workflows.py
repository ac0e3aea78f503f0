"""``wfe validate`` and ``wfe workflow add|list|show|enable|disable|remove``, in-process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import Wfe


def test_validate_reports_file_line_and_field(wfe: Wfe, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("name: good\nsteps: [{id: a, log: x}]\n")
    bad.write_text("name: bad\nsteps:\n  - id: a\n    log: x\n    timeout: whenever\n")
    proc = wfe("validate", str(good), str(bad))
    assert proc.exit_code == 1
    assert f"{good}: ok (good, 1 steps)" in proc.stdout
    assert f"{bad}:5: steps[a].timeout: 'whenever' is not a duration" in proc.stderr


def test_workflow_add_is_all_or_nothing(wfe: Wfe, tmp_path: Path) -> None:
    folder = tmp_path / "wfs"
    folder.mkdir()
    (folder / "a.yaml").write_text("name: a\nsteps: [{id: x, log: y}]\n")
    (folder / "b.yaml").write_text("name: b\nsteps: [{id: x, needs: [nope], log: y}]\n")
    proc = wfe("workflow", "add", str(folder))
    assert proc.exit_code == 1 and "b.yaml:2: steps[x].needs: unknown step 'nope'" in proc.stderr
    assert json.loads(wfe("workflow", "list", "--json").stdout)["total"] == 0


def test_workflow_add_refuses_duplicate_names(wfe: Wfe, tmp_path: Path) -> None:
    for f in ("one.yaml", "two.yaml"):
        (tmp_path / f).write_text("name: same\nsteps: [{id: x, log: y}]\n")
    proc = wfe("workflow", "add", str(tmp_path / "one.yaml"), str(tmp_path / "two.yaml"))
    assert proc.exit_code == 1
    assert (
        f"two.yaml:1: name: workflow name 'same' is also used by {tmp_path / 'one.yaml'}"
        in proc.stderr
    )
    assert json.loads(wfe("workflow", "list", "--json").stdout)["total"] == 0


def test_workflow_update_bumps_version_and_lifecycle(wfe: Wfe, tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text("name: w\nsteps: [{id: x, log: one}]\n")
    assert "created    w (version 1)" in wfe("workflow", "add", str(f)).stdout
    f.write_text("name: w\nsteps: [{id: x, log: two}]\n")
    assert "updated    w (version 2)" in wfe("workflow", "add", str(f)).stdout
    assert "log: two" in wfe("workflow", "show", "w").stdout
    assert wfe("workflow", "disable", "w").stdout == "w disabled\n"
    proc = wfe("run", "w")
    assert proc.exit_code == 1 and "error: workflow 'w' is disabled" in proc.stderr
    assert wfe("workflow", "enable", "w").exit_code == 0
    assert wfe("run", "w").exit_code == 0
    assert wfe("workflow", "remove", "w", "--yes").stdout == "removed w and 1 execution(s)\n"
    proc = wfe("workflow", "show", "w")
    assert proc.exit_code == 1 and proc.stderr.startswith("error: no workflow named 'w'")


def test_lists_paginate(wfe: Wfe, tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"w{i}.yaml").write_text(f"name: w{i}\nsteps: [{{id: x, log: y}}]\n")
    wfe("workflow", "add", str(tmp_path))
    page = json.loads(wfe("workflow", "list", "--json", "--limit", "2", "--offset", "2").stdout)
    assert page["total"] == 5 and [w["name"] for w in page["items"]] == ["w2", "w3"]
    proc = wfe("workflow", "list", "--limit", "2")
    assert "… 3 more; wfe workflow list --offset 2" in proc.stderr
