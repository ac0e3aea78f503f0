"""`wfe bench --quick` keeps working. It asserts the report's shape, never a timing."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from engine import bench, store
from tests.support import Wfe, postgres_database

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


@pytest.mark.parametrize("backend", BACKENDS)
def test_bench_workers_times_real_workers_beside_the_queue_floor(
    backend: str, wfe: Wfe, tmp_path: Path
) -> None:
    """`wfe bench --workers 2 --db URL`: both loops drained the same store, every
    execution succeeded, and the memory figure came from a live worker."""
    with contextlib.ExitStack() as stack:
        url = (
            f"sqlite:///{tmp_path / 'empty.db'}"
            if backend == "sqlite"
            else stack.enter_context(postgres_database())
        )
        results = bench.workers(
            url=url, count=2, executions=200, rounds=1, samples=3, memory_executions=2000
        )
        db = stack.enter_context(contextlib.closing(store.open_store(url)))
        stats = store.stats(db)
    by_name = {r.name: r for r in results}
    assert set(by_name) == {
        "queue_to_first_step", "workers_2", "queue_floor_2", "worker_memory_growth"
    }  # fmt: skip
    latency = by_name["queue_to_first_step"]
    assert 0 < latency.median <= latency.extra["p99_ms"]
    assert by_name["workers_2"].median > 0 and by_name["queue_floor_2"].median > 0
    assert by_name["workers_2"].floor_ratio is not None
    assert by_name["worker_memory_growth"].extra["rss_before_mb"] > 10  # a real process
    # the warm-up and the samples, a floor round, a workers round (warmed up), the memory
    assert stats.succeeded == 1 + 3 + 200 + 2 * 16 * 4 + 200 + 1000 + 2000
    assert (stats.queued, stats.running, stats.failed) == (0, 0, 0)


def test_bench_workers_prints_its_table(wfe: Wfe) -> None:
    proc = wfe("bench", "--workers", "1", "--quick", "--concurrency", "4")
    assert proc.exit_code == 0, proc.stderr
    assert "wfe bench --workers 1 --quick" in proc.stdout
    for name in ("queue_to_first_step", "workers_1", "queue_floor_1"):
        assert name in proc.stdout


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
