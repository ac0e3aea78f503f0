"""End to end: the real `wfe` command in a subprocess, on a temporary SQLite file."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import store
from tests.conftest import REPO, start_wfe

EXAMPLES = REPO / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout


def test_add_and_run_every_example(wfe, tmp_path: Path) -> None:
    added = wfe("workflow", "add", str(EXAMPLES))
    assert added.returncode == 0, added.stderr
    assert sorted(line.split()[1] for line in added.stdout.splitlines()) == [
        "fan-out",
        "flaky-retry",
        "release-artifact",
        "service-check",
    ]
    params = {
        "release-artifact": ["-p", f"out_dir={tmp_path / 'rel'}", "-p", "version=2.1.0"],
        "fan-out": ["-p", f"work_dir={tmp_path / 'fan'}"],
        "flaky-retry": ["-p", f"state_dir={tmp_path / 'flaky'}"],
        "service-check": ["-p", f"port={free_port()}"],
    }
    for name, extra in params.items():
        proc = wfe("run", name, *extra, timeout=120)
        assert proc.returncode == 0, (name, proc.stdout, proc.stderr)
        assert "✓ succeeded  execution" in proc.stdout
    assert (tmp_path / "rel" / "app-2.1.0.tar.gz").stat().st_size > 0
    listed = json.loads(wfe("executions", "list", "--json").stdout)
    assert listed["total"] == 4 and {e["status"] for e in listed["items"]} == {"succeeded"}
    flaky = next(e for e in listed["items"] if e["workflow_name"] == "flaky-retry")
    shown = json.loads(wfe("executions", "show", str(flaky["id"]), "--json").stdout)
    assert [(s["step_id"], s["attempt"], s["status"]) for s in shown["steps"]][:3] == [
        ("flaky", 1, "failed"),
        ("flaky", 2, "failed"),
        ("flaky", 3, "succeeded"),
    ]
    fan = next(e for e in listed["items"] if e["workflow_name"] == "fan-out")
    log = wfe("logs", str(fan["id"]), "--step", "check").stdout
    assert "sum of 1..4000 is 8002000 (from 4 shards)" in log
    stats = json.loads(wfe("stats", "--json").stdout)
    assert (stats["workflows"], stats["succeeded"], stats["failed"], stats["success_rate"]) == (
        4,
        4,
        0,
        1.0,
    )
    workflows = json.loads(wfe("workflow", "list", "--json").stdout)
    assert {w["name"]: w["last_status"] for w in workflows["items"]}["fan-out"] == "succeeded"


def test_run_failure_exits_non_zero_with_the_reason(wfe, tmp_path: Path) -> None:
    wf = tmp_path / "bad.yaml"
    wf.write_text("name: bad\nsteps:\n  - id: missing\n    run: definitely-not-a-command-wfe\n")
    assert wfe("workflow", "add", str(wf)).returncode == 0
    proc = wfe("run", "bad")
    assert proc.returncode == 1
    assert "✗ failed  missing  exited with code 127" in proc.stdout
    assert (
        "execution 1 in" in proc.stdout
        and "step 'missing' failed: exited with code 127" in proc.stdout
    )
    no_traceback(proc)


def test_validate_reports_file_line_and_field(wfe, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("name: good\nsteps: [{id: a, log: x}]\n")
    bad.write_text("name: bad\nsteps:\n  - id: a\n    log: x\n    timeout: whenever\n")
    proc = wfe("validate", str(good), str(bad))
    assert proc.returncode == 1
    assert f"{good}: ok (good, 1 steps)" in proc.stdout
    assert f"{bad}:5: steps[a].timeout: 'whenever' is not a duration" in proc.stderr
    no_traceback(proc)


def test_workflow_add_is_all_or_nothing(wfe, tmp_path: Path) -> None:
    folder = tmp_path / "wfs"
    folder.mkdir()
    (folder / "a.yaml").write_text("name: a\nsteps: [{id: x, log: y}]\n")
    (folder / "b.yaml").write_text("name: b\nsteps: [{id: x, needs: [nope], log: y}]\n")
    proc = wfe("workflow", "add", str(folder))
    assert proc.returncode == 1 and "b.yaml:2: steps[x].needs: unknown step 'nope'" in proc.stderr
    assert json.loads(wfe("workflow", "list", "--json").stdout)["total"] == 0


def test_workflow_add_refuses_duplicate_names(wfe, tmp_path: Path) -> None:
    for f in ("one.yaml", "two.yaml"):
        (tmp_path / f).write_text("name: same\nsteps: [{id: x, log: y}]\n")
    proc = wfe("workflow", "add", str(tmp_path / "one.yaml"), str(tmp_path / "two.yaml"))
    assert proc.returncode == 1
    assert (
        f"two.yaml:1: name: workflow name 'same' is also used by {tmp_path / 'one.yaml'}"
        in proc.stderr
    )
    assert json.loads(wfe("workflow", "list", "--json").stdout)["total"] == 0


def test_workflow_update_bumps_version_and_lifecycle(wfe, tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text("name: w\nsteps: [{id: x, log: one}]\n")
    assert "created    w (version 1)" in wfe("workflow", "add", str(f)).stdout
    f.write_text("name: w\nsteps: [{id: x, log: two}]\n")
    assert "updated    w (version 2)" in wfe("workflow", "add", str(f)).stdout
    assert "log: two" in wfe("workflow", "show", "w").stdout
    assert wfe("workflow", "disable", "w").stdout == "w disabled\n"
    proc = wfe("run", "w")
    assert proc.returncode == 1 and "error: workflow 'w' is disabled" in proc.stderr
    assert wfe("workflow", "enable", "w").returncode == 0
    assert wfe("run", "w").returncode == 0
    assert wfe("workflow", "remove", "w", "--yes").stdout == "removed w and 1 execution(s)\n"
    proc = wfe("workflow", "show", "w")
    assert proc.returncode == 1 and proc.stderr.startswith("error: no workflow named 'w'")


def test_run_params_and_errors(wfe, tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(
        "name: p\nparams: {n: 1, who: x}\nsteps:\n  - id: say\n    log: '${{ params.n }} ${{ params.who }}'\n"
    )
    wfe("workflow", "add", str(f))
    proc = wfe("run", "p", "-p", "n=41", "-p", "who=a b")
    assert proc.returncode == 0 and "41 a b" in proc.stdout
    for args, message in [
        (
            ["run", "p", "-p", "zzz=1"],
            "error: workflow 'p' has no parameter 'zzz' (its parameters: n, who)",
        ),
        (["run", "p", "-p", "novalue"], "error: -p 'novalue': write -p name=value"),
        (["run", "nope"], "error: no workflow named 'nope'"),
        (["executions", "show", "999"], "error: no execution 999"),
    ]:
        proc = wfe(*args)
        assert proc.returncode == 1 and proc.stderr.startswith(message), proc.stderr
        no_traceback(proc)


def test_ctrl_c_cancels_the_execution_cleanly(wfe, tmp_path: Path) -> None:
    f = tmp_path / "slow.yaml"
    marker = tmp_path / "started"
    f.write_text(f"name: slow\nsteps:\n  - id: s\n    run: touch {marker}; sleep 60\n")
    wfe("workflow", "add", str(f))
    proc = start_wfe(wfe, "run", "slow")
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, (out, err)
    assert "cancelling (ctrl-c)" in err and "Traceback" not in err
    shown = json.loads(wfe("executions", "show", "1", "--json").stdout)
    assert (shown["status"], shown["error"]) == ("cancelled", "cancelled by ctrl-c")
    assert shown["steps"][0]["status"] == "cancelled"


def test_cancel_from_another_process(wfe, tmp_path: Path) -> None:
    f = tmp_path / "slow.yaml"
    f.write_text("name: slow\nsteps:\n  - {id: s, run: sleep 60}\n")
    wfe("workflow", "add", str(f))
    proc = start_wfe(wfe, "run", "slow")
    deadline = time.monotonic() + 20
    while (
        json.loads(wfe("executions", "list", "--json", "--status", "running").stdout)["total"] == 0
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "cancel requested" in wfe("cancel", "1").stdout
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "cancelled by request" in out
    assert "had already finished (cancelled)" in wfe("cancel", "1").stdout


def test_store_errors_are_one_line(wfe, tmp_path: Path) -> None:
    not_db = tmp_path / "notes.txt"
    not_db.write_text("hello " * 1000)
    proc = wfe("--db", str(not_db), "workflow", "list")
    assert proc.returncode == 1
    assert proc.stderr == f"error: cannot open the database {not_db}: file is not a database\n"

    newer = tmp_path / "newer.db"
    assert wfe("--db", str(newer), "stats").returncode == 0
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE wfe_meta SET value = '7'")
    proc = wfe("--db", str(newer), "stats")
    assert proc.returncode == 1 and "written by a newer WorkflowEngine (schema 7" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1

    (tmp_path / "file").write_text("")
    proc = wfe("--db", str(tmp_path / "file" / "x.db"), "stats")
    assert proc.returncode == 1 and proc.stderr.startswith("error: cannot create the database")
    assert len(proc.stderr.splitlines()) == 1


def test_secrets_stay_out_of_json_and_logs(wfe, tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: s\nsecrets: [API_TOKEN]\nsteps:\n  - id: use\n    run: echo using ${{ secrets.API_TOKEN }}\n"
    )
    wfe("workflow", "add", str(f))
    env = {**wfe.env, "API_TOKEN": "tok-987654321"}
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", "s"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "using ***" in proc.stdout
    for args in (
        ["executions", "show", "1", "--json"],
        ["logs", "1"],
        ["executions", "list", "--json"],
    ):
        out = wfe(*args).stdout
        assert "tok-987654321" not in out
    proc = wfe("run", "s")  # without the variable
    assert proc.returncode == 1 and "needs the secret(s) API_TOKEN" in proc.stderr


def test_lists_paginate(wfe, tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"w{i}.yaml").write_text(f"name: w{i}\nsteps: [{{id: x, log: y}}]\n")
    wfe("workflow", "add", str(tmp_path))
    page = json.loads(wfe("workflow", "list", "--json", "--limit", "2", "--offset", "2").stdout)
    assert page["total"] == 5 and [w["name"] for w in page["items"]] == ["w2", "w3"]
    proc = wfe("workflow", "list", "--limit", "2")
    assert "… 3 more; wfe workflow list --offset 2" in proc.stderr


def test_health_and_database_file_mode(wfe, tmp_path: Path) -> None:
    health = json.loads(wfe("health", "--json").stdout)
    assert health["reachable"] is True and health["schema_version"] == store.SCHEMA_VERSION
    assert health["process_rss_bytes"] > 0 and health["free_disk_bytes"] > 0
    assert os.stat(tmp_path / "cli.db").st_mode & 0o777 == 0o600


def test_default_database_lives_in_the_user_data_folder(tmp_path: Path) -> None:
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


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["executions", "list", "--help"]])
def test_help_works(wfe, args: list[str]) -> None:
    proc = wfe(*args)
    assert proc.returncode == 0 and "Usage: " in proc.stdout
