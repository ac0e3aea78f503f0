"""`wfe bench --quick` keeps working. It asserts the report's shape, never a timing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import bench, store
from tests.support import Wfe

# Tests that take `db` run on SQLite and on PostgreSQL (skipped, saying why, without one);
# the `wfe bench` ones run in-process on SQLite.
BACKENDS = ("sqlite", "postgresql")

SCENARIOS = {
    "throughput",
    "large_workflow",
    "memory",
    "concurrency",
    "shell",
    "floor",
    "fanout_log",
    "fanout_shell",
}


def test_bench_quick_reports_every_scenario(wfe: Wfe) -> None:
    # As `wfe bench` is run: $WFE_DATABASE_URL names a store, which bench leaves alone.
    proc = wfe.invoke("bench", "--quick", "--json", env={"WFE_DATABASE_URL": wfe.url})
    assert proc.exit_code == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["quick"] is True
    assert set(report["scenarios"]) == SCENARIOS
    for name, s in report["scenarios"].items():
        assert s["runs"] >= 1 and s["min"] <= s["median"] <= s["max"], name
        assert s["median"] > 0 or name == "memory", name
    assert report["scenarios"]["throughput"]["seed"] == 856.90
    assert report["scenarios"]["throughput"]["floor_ratio"] > 0
    assert report["scenarios"]["concurrency"]["executions"] == 1000
    assert report["scenarios"]["concurrency"]["peak_running"] > 1
    assert report["scenarios"]["shell"]["plain_spawns_per_s"] > 0
    for kind in ("log", "shell"):
        fan = report["scenarios"][f"fanout_{kind}"]
        assert fan["plain_steps_per_s"] > 0 and fan["floor_ratio"] > 0


@pytest.mark.parametrize("where", ["wfe --db URL bench", "wfe bench --db PATH"])
def test_bench_refuses_a_database_with_workflows(wfe: Wfe, tmp_path: Path, where: str) -> None:
    wf = tmp_path / "w.yaml"
    wf.write_text("name: w\nsteps: [{id: a, log: x}]\n")
    assert wfe("workflow", "add", str(wf)).exit_code == 0
    url = wfe.url
    env = {"WFE_DATABASE_URL": url}
    if where == "wfe --db URL bench":
        proc = wfe.invoke("--db", url, "bench", "--quick", env=env)
    else:
        proc = wfe.invoke("bench", "--quick", "--db", url.removeprefix("sqlite:///"), env=env)
    assert proc.exit_code == 1
    assert "wfe bench needs an empty database" in proc.stderr


def test_bench_workers_reports_latency_and_rate() -> None:
    latency, rate = bench.workers(samples=3, executions=20)
    assert latency.name == "detach_to_first_step" and latency.median > 0
    assert latency.extra["p99_ms"] >= latency.median
    assert rate.name == "two_workers" and rate.median > 0


def test_the_dashboard_fill_writes_what_the_engine_reads(db: store.Store) -> None:
    bench.dashboard.bulk_fill(db, 2_000, 5)
    assert store.list_executions(db, limit=1)[1] == 2_000
    summaries, total = store.list_workflows(db, limit=200)
    assert total == 100
    cancelled = store.list_executions(db, status="cancelled", limit=1)[1]
    assert sum(s.workflow.runs for s in summaries) == 2_000 - cancelled
    assert len(store.step_runs(db, summaries[0].workflow.last_execution_id or 0)) == 5
    # The engine's next execution comes after the filled ones (PostgreSQL: its sequence).
    (new,) = store.create_executions(db, summaries[0].workflow, [{}])
    assert (new.id or 0) > 10_002_000


def test_startup_times_every_command_and_the_console_s_first_frame() -> None:
    from engine.bench import startup

    results = {r.name: r for r in startup.run(runs=1)}
    assert set(results) == {
        "cli: python -c pass",
        "cli: wfe --help",
        "cli: wfe validate FILE",
        "cli: wfe stats",
        "cli: wfe executions list",
        "cli: wfe run NAME --detach",
        "cli: wfe cancel ID",
        "console first frame, empty store",
        "console first frame, 10,000 executions",
    }
    for name, r in results.items():
        assert len(r.samples) == 1 and r.median > 0, name
    for label in ("empty store", "10,000 executions"):
        frame = results[f"console first frame, {label}"]
        assert frame.median <= frame.extra["data_shown_ms"]
