"""``wfe run``, ``wfe rerun`` and ``wfe cancel``.

In-process (click's runner) except where a real process is the subject: ctrl-c, and a
cancel that reaches a `wfe run` in another process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from engine import cli
from tests.support import EXAMPLES, Wfe, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_add_and_run_every_example(wfe: Wfe, tmp_path: Path) -> None:
    added = wfe("workflow", "add", str(EXAMPLES))
    assert added.exit_code == 0, added.stderr
    assert sorted(line.split()[1] for line in added.stdout.splitlines()) == [
        "deploy-hosts",
        "failure-hook",
        "fan-out",
        "flaky-retry",
        "maintenance",
        "release-artifact",
        "service-check",
        "vacuum-table",
    ]
    params = {
        "release-artifact": ["-p", f"out_dir={tmp_path / 'rel'}", "-p", "version=2.1.0"],
        "fan-out": ["-p", f"work_dir={tmp_path / 'fan'}"],
        "deploy-hosts": ["-p", f"work_dir={tmp_path / 'deploy'}"],
        "maintenance": ["-p", f"work_dir={tmp_path / 'shop'}"],
        "vacuum-table": ["-p", f"database={tmp_path / 'alone.db'}", "-p", "table=items"],
        "flaky-retry": ["-p", f"state_dir={tmp_path / 'flaky'}"],
        "service-check": ["-p", f"port={free_port()}"],
    }
    for name, extra in params.items():
        proc = wfe("run", name, *extra)
        assert proc.exit_code == 0, (name, proc.stdout, proc.stderr)
        assert "✓ succeeded  execution" in proc.stdout
    assert (tmp_path / "rel" / "app-2.1.0.tar.gz").stat().st_size > 0
    failed = wfe("run", "failure-hook")  # it fails on purpose; its hooks tell a receiver
    assert failed.exit_code == 1 and "✗ failed  execution" in failed.stdout
    listed = json.loads(wfe("executions", "list", "--json").stdout)
    assert listed["total"] == 8 + 3  # and maintenance's three children
    assert {e["workflow_name"]: e["status"] for e in listed["items"]}["failure-hook"] == "failed"
    hooked = next(e for e in listed["items"] if e["workflow_name"] == "failure-hook")
    shown = json.loads(wfe("executions", "show", str(hooked["id"]), "--json").stdout)
    steps = {s["step_id"]: s for s in shown["steps"]}
    assert [steps[s]["status"] for s in ("migrate", "never", "slack", "teams", "delivered")] == [
        "failed",
        "skipped",
        "succeeded",
        "succeeded",
        "succeeded",
    ]
    posted = {p["path"]: p["body"] for p in steps["delivered"]["output"]}
    assert posted["/services/T000/B000/XXXX"]["text"].startswith(
        f":x: failure-hook #{hooked['id']}"
    )
    assert posted["/webhookb2/wfe"]["sections"][0]["facts"][0] == {
        "name": "failed steps",
        "value": "migrate",
    }
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
    deploy = next(e for e in listed["items"] if e["workflow_name"] == "deploy-hosts")
    shown = json.loads(wfe("executions", "show", str(deploy["id"]), "--json").stdout)
    ids = [s["step_id"] for s in shown["steps"]]
    assert ids[1:6] == ["deploy", "deploy[web-1]", "deploy[web-2]", "deploy[web-3]", "deploy[db-1]"]
    log = wfe("logs", str(deploy["id"]), "--step", "report").stdout
    assert "web-1 runs release 2.4.1; web-2 runs release 2.4.1;" in log
    assert "checks succeeded on 6 pairs" in log
    stats = json.loads(wfe("stats", "--json").stdout)
    maint = next(e for e in listed["items"] if e["workflow_name"] == "maintenance")
    shown = json.loads(wfe("executions", "show", str(maint["id"]), "--json").stdout)
    assert [(c["parent_step"], c["status"]) for c in shown["children"]] == [
        ("vacuum[orders]", "succeeded"),
        ("vacuum[users]", "succeeded"),
        ("vacuum[events]", "succeeded"),
    ]
    log = wfe("logs", str(maint["id"]), "--step", "summary").stdout
    assert "orders: 150 rows kept, 50 deleted; users: 150 rows kept" in log
    stats = json.loads(wfe("stats", "--json").stdout)
    assert (stats["workflows"], stats["succeeded"], stats["failed"]) == (8, 10, 1)
    workflows = json.loads(wfe("workflow", "list", "--json").stdout)
    assert {w["name"]: w["last_status"] for w in workflows["items"]}["fan-out"] == "succeeded"


def test_run_failure_exits_non_zero_with_the_reason(wfe: Wfe, tmp_path: Path) -> None:
    wf = tmp_path / "bad.yaml"
    wf.write_text("name: bad\nsteps:\n  - id: missing\n    run: definitely-not-a-command-wfe\n")
    assert wfe("workflow", "add", str(wf)).exit_code == 0
    proc = wfe("run", "bad")
    assert proc.exit_code == 1
    assert "✗ failed  missing  exited with code 127" in proc.stdout
    assert (
        "execution 1 in" in proc.stdout
        and "step 'missing' failed: exited with code 127" in proc.stdout
    )


def test_run_says_each_step_starts_once(wfe: Wfe, tmp_path: Path) -> None:
    wf = tmp_path / "two.yaml"
    wf.write_text(
        "name: two\nsteps:\n  - {id: a, run: 'echo hi'}\n  - {id: b, run: 'echo there', needs: [a]}\n"
    )
    assert wfe("workflow", "add", str(wf)).exit_code == 0
    out = wfe("run", "two").stdout
    assert out.count("▶ a") == 1 and out.count("▶ b") == 1, out


def test_run_params_and_errors(wfe: Wfe, tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(
        "name: p\nparams: {n: 1, who: x}\nsteps:\n  - id: say\n    log: '${{ params.n }} ${{ params.who }}'\n"
    )
    wfe("workflow", "add", str(f))
    proc = wfe("run", "p", "-p", "n=41", "-p", "who=a b")
    assert proc.exit_code == 0 and "41 a b" in proc.stdout
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
        assert proc.exit_code == 1 and proc.stderr.startswith(message), proc.stderr


def test_ctrl_c_cancels_the_execution_cleanly(wfe: Wfe, tmp_path: Path) -> None:
    # A real process: SIGINT is what this is about.
    f = tmp_path / "slow.yaml"
    marker = tmp_path / "started"
    f.write_text(f"name: slow\nsteps:\n  - id: s\n    run: touch {marker}; sleep 60\n")
    wfe("workflow", "add", str(f))
    proc = wfe.start("run", "slow")
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


def test_cancel_from_another_process(wfe: Wfe, tmp_path: Path) -> None:
    # The `wfe run` is a real process; `wfe cancel` reaches it through the store.
    f = tmp_path / "slow.yaml"
    f.write_text("name: slow\nsteps:\n  - {id: s, run: sleep 60}\n")
    wfe("workflow", "add", str(f))
    proc = wfe.start("run", "slow")
    wait_until(
        lambda: (
            json.loads(wfe("executions", "list", "--json", "--status", "running").stdout)["total"]
            != 0
        ),
        timeout=20,
    )
    assert "cancel requested" in wfe("cancel", "1").stdout
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "cancelled by request" in out
    assert "had already finished (cancelled)" in wfe("cancel", "1").stdout


def test_secrets_stay_out_of_json_and_logs(wfe: Wfe, tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: s\nsecrets: [API_TOKEN]\nsteps:\n  - id: use\n    run: echo using ${{ secrets.API_TOKEN }}\n"
    )
    wfe("workflow", "add", str(f))
    proc = wfe("run", "s", env={"API_TOKEN": "tok-987654321"})
    assert proc.exit_code == 0 and "using ***" in proc.stdout
    for args, shows in (
        (["executions", "show", "1", "--json"], '"output": "using ***"'),
        (["logs", "1"], "using ***"),
        (["executions", "list", "--json"], '"total": 1'),
    ):
        result = wfe(*args)
        assert result.exit_code == 0 and shows in result.stdout, result.output
        assert "tok-987654321" not in result.stdout
    proc = wfe("run", "s", env={"API_TOKEN": None})  # without the variable
    assert proc.exit_code == 1 and "needs the secret(s) API_TOKEN" in proc.stderr


def test_rerun_from_a_failed_step_reuses_what_came_before(wfe: Wfe, tmp_path: Path) -> None:
    effects = tmp_path / "effects"
    gate = tmp_path / "gate"
    f = tmp_path / "pipeline.yaml"
    f.write_text(
        f"""name: pipeline
steps:
  - id: fetch
    run: echo fetch >> {effects}; echo data-1
  - id: build
    run: echo build >> {effects}; test -e {gate}; echo "built ${{{{ steps.fetch.output }}}}"
  - id: ship
    log: "shipping ${{{{ steps.build.output }}}}"
"""
    )
    wfe("workflow", "add", str(f))
    assert wfe("run", "pipeline").exit_code == 1  # build fails: no gate yet
    gate.write_text("")
    proc = wfe("rerun", "1", "--from", "build")
    assert proc.exit_code == 0, proc.stdout + proc.stderr
    assert effects.read_text().split() == ["fetch", "build", "build"]  # fetch reused, not re-run
    shown = json.loads(wfe("executions", "show", "2", "--json").stdout)
    assert shown["trigger"] == "rerun of 1"
    assert shown["runner"].startswith("run:")  # leased to the process that ran it
    steps = {s["step_id"]: s for s in shown["steps"]}
    assert (
        steps["fetch"]["output"] == "data-1"
        and steps["fetch"]["error"] == "reused from execution 1"
    )
    assert steps["ship"]["output"] == "shipping built data-1"
    proc = wfe("rerun", "1", "--from", "nope")
    assert proc.exit_code == 1 and "has no step 'nope' (steps: fetch, build, ship)" in proc.stderr


def test_detach_queues_one_execution_per_line_of_params(wfe: Wfe, tmp_path: Path) -> None:
    wf = tmp_path / "w.yaml"
    wf.write_text("name: w\nparams: {n: 0, tag: x}\nsteps: [{id: a, log: '${{ params.n }}'}]\n")
    assert wfe("workflow", "add", str(wf)).exit_code == 0
    lines = tmp_path / "params.jsonl"
    lines.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(12_000)) + "\n")
    queued = wfe("run", "w", "--detach", "--params-from", str(lines), "-p", "tag=bulk")
    assert queued.exit_code == 0, queued.stderr
    assert queued.stdout == "queued 12,000 executions of w: ids 1 to 12000\n"
    shown = json.loads(wfe("executions", "show", "12000", "--json").stdout)
    assert (shown["params"], shown["status"]) == ({"n": 11_999, "tag": "bulk"}, "queued")
    # A bad line anywhere: nothing queued, the line named.
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"n": 1}\n{"n": 2, "nope": true}\n')
    refused = wfe("run", "w", "--detach", "--params-from", str(bad))
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"error: {bad}:2: workflow 'w' has no parameter 'nope' (its parameters: n, tag)\n"
    )
    assert json.loads(wfe("executions", "list", "--json").stdout)["total"] == 12_000
    from_stdin = CliRunner().invoke(
        cli.main,
        ["--db", wfe.url, "run", "w", "--detach", "--params-from", "-"],
        input='{"n": 5}\n[1]\n',
    )
    assert from_stdin.exit_code == 1
    assert "<stdin>:2: a line is a JSON object of params" in from_stdin.stderr
    alone = wfe.invoke("--db", wfe.url, "run", "w", "--params-from", str(lines))
    assert alone.exit_code == 2 and "add --detach" in alone.stderr


def _bulk_workflow(wfe: Wfe, tmp_path: Path) -> None:
    wf = tmp_path / "w.yaml"
    wf.write_text(
        "name: w\nparams: {n: 0, who: world, flag: false, ratio: 0.5, tags: [], any: null}\n"
        "steps: [{id: a, log: '${{ params.n }}'}]\n"
    )
    assert wfe("workflow", "add", str(wf)).exit_code == 0


def test_each_bad_line_of_params_is_named_and_nothing_is_queued(wfe: Wfe, tmp_path: Path) -> None:
    _bulk_workflow(wfe, tmp_path)
    cases = {
        b'{"n": 1}\n{"who": "\xff\xfe"}\n': "2: not UTF-8 text (byte 0xff at column 10)",
        b'{"n": 1}\n{"n":\n': "2: not JSON: Expecting value (column 6)",
        b'{"n": 1}\r\n{"who": "abc\r\n': "2: not JSON: Unterminated string starting at (column 9)",
        b'{"n": '
        + b"[" * 990
        + b"]" * 990
        + b"}\n": "1: not JSON this engine reads: nested too deeply",
        b'{"n": ' + b"1" * 5000 + b"}\n": "1: a number too long to read (more than 4,300 digits)",
        # As -p reads text as the default's type, a JSON value is held to it.
        b'{"n": "abc"}\n': "1: parameter 'n' expects a whole number (its default is 0), not \"abc\"",
        b'{"n": true}\n': "1: parameter 'n' expects a whole number (its default is 0), not true",
        b'{"flag": "yes"}\n': "1: parameter 'flag' expects true or false (its default is false), not \"yes\"",
        b'{"who": 5}\n': "1: parameter 'who' expects text (its default is \"world\"), not 5",
        b'{"tags": "a"}\n': "1: parameter 'tags' expects a JSON list (its default is []), not \"a\"",
    }
    for i, (content, said) in enumerate(cases.items()):
        lines = tmp_path / f"bad{i}.jsonl"
        lines.write_bytes(content)
        refused = wfe("run", "w", "--detach", "--params-from", str(lines))
        assert (refused.exit_code, refused.stderr) == (1, f"error: {lines}:{said}\n"), content
    assert json.loads(wfe("executions", "list", "--json").stdout)["total"] == 0
    # A BOM, CR line endings, a whole number where a number goes, anything where null is.
    good = tmp_path / "good.jsonl"
    good.write_bytes(
        b'\xef\xbb\xbf{"n": 1}\r{"ratio": 2, "any": [1], "tags": ["x"], "flag": true}\r'
    )
    queued = wfe("run", "w", "--detach", "--params-from", str(good))
    assert queued.stdout == "queued 2 executions of w: ids 1 to 2\n", queued.stderr
    one = tmp_path / "one.jsonl"
    one.write_text('{"n": 3}\n')
    assert wfe("run", "w", "--detach", "--params-from", str(one)).stdout == (
        "queued 1 execution of w: ids 3 to 3\n"
    )
    # Not started: the list says when each was queued, as that (not as a start).
    rows = wfe("executions", "list").stdout.splitlines()[1:4]
    assert all(re.search(r" queued +detached +queued \d{4}-\d\d-\d\d ", r) for r in rows), rows


def test_params_from_a_closed_stdin_is_a_usage_error(wfe: Wfe, tmp_path: Path) -> None:
    _bulk_workflow(wfe, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", "w", "--detach", "--params-from", "-"],
        env=wfe.env,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.close(0),  # as a shell's <&- leaves it
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "--params-from -: there is no stdin (it is closed)" in proc.stderr
    assert "Traceback" not in proc.stderr


def _interrupted_queueing(
    wfe: Wfe, tmp_path: Path, first: str, interrupt: Callable[[subprocess.Popen[str]], None]
) -> tuple[int, str, int, Path]:
    """300,000 lines (after ``first``) queued by a real `wfe run --detach --params-from`,
    ``interrupt`` called once some are: its exit status, its stderr, how many were
    queued, and the lines' file."""
    from engine import store

    _bulk_workflow(wfe, tmp_path)
    lines = tmp_path / "many.jsonl"
    lines.write_text(first + "".join(json.dumps({"n": i}) + "\n" for i in range(300_000)))
    db = store.open_store(wfe.url)
    try:
        proc = wfe.start("run", "w", "--detach", "--params-from", str(lines))
        wait_until(lambda: store.stats(db).queued > 0, timeout=60)
        interrupt(proc)
        _out, err = proc.communicate(timeout=60)
        queued = store.stats(db).queued
    finally:
        db.close()
    assert 0 < queued < 300_000 and queued % 5_000 == 0, (queued, err)
    return proc.returncode, err, queued, lines


def test_a_signal_while_queueing_stops_after_the_batch_and_says_what_was_queued(
    wfe: Wfe, tmp_path: Path
) -> None:
    """Queued in transactions of 5,000: a SIGTERM part way stops after the one under
    way, and the lines queued are named exactly (to go on from the next one)."""
    code, err, queued, lines = _interrupted_queueing(
        wfe, tmp_path, "\n", lambda proc: proc.send_signal(signal.SIGTERM)
    )
    assert code == 130, err
    assert err == (
        f"interrupted (SIGTERM): queued {queued:,} of 300,000 (lines 1 to {queued + 1:,}"
        f" of {lines}, ids 1 to {queued}); the lines from {queued + 2:,} on were not queued\n"
    )


def test_a_store_error_part_way_through_queueing_says_what_was_queued(
    wfe: Wfe, tmp_path: Path
) -> None:
    import sqlite3

    def refuse(_proc: subprocess.Popen[str]) -> None:
        # The database refuses the rest: a trigger, made between two of its batches.
        with sqlite3.connect(wfe.url.removeprefix("sqlite:///"), timeout=60) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON execution"
                " BEGIN SELECT RAISE(ABORT, 'no more, says the test'); END"
            )

    code, err, queued, lines = _interrupted_queueing(wfe, tmp_path, "", refuse)
    assert code == 1, err
    first, second = err.splitlines()
    assert first.startswith("error: ") and "no more, says the test" in first
    assert second == (
        f"queued {queued:,} of 300,000 (lines 1 to {queued:,} of {lines}, ids 1 to {queued});"
        f" the lines from {queued + 1:,} on were not queued"
    )
