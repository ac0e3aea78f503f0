"""``wfe prune`` and ``wfe bench``: keeping the store small, and measuring the engine."""

from __future__ import annotations

import time

import click

from engine.cli import output
from engine.cli.base import open_db, parse_duration


@click.command()
@click.option(
    "--older-than",
    "older_than",
    default="30d",
    show_default=True,
    help="Age of finished executions to delete.",
)
@click.pass_context
def prune(ctx: click.Context, older_than: str) -> None:
    """Delete finished executions older than this, with their steps and logs."""
    from engine import store
    from engine.definition.durations import format_duration

    age = parse_duration(older_than, "--older-than")
    with open_db(ctx) as db:
        removed = store.prune(db, older_than=age)
    click.echo(f"removed {removed} execution(s) finished more than {format_duration(age)} ago")


@click.command()
@click.option(
    "--quick", is_flag=True, help="Fewer runs and no dashboard-at-scale scenario (under 30 s)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option(
    "--workers",
    "workers",
    type=click.IntRange(1, 64),
    is_flag=False,
    flag_value=2,
    default=None,
    metavar="[K]",
    help="Only time K real `wfe worker` processes (2 if K is left out) beside the queue"
    " floor: executions/s, queue to first step, and (without --quick) a worker's memory"
    " over 100,000 executions.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="With --workers: each worker's --concurrency, and the floor's batch.",
)
@click.option(
    "--cli",
    "startup",
    is_flag=True,
    help="Only time whole `wfe` processes (and the console's first frame), median of 7.",
)
@click.option(
    "--db",
    "bench_db",
    metavar="URL",
    help="An empty database to measure on (default: a fresh temporary SQLite file).",
)
@click.pass_context
def bench(
    ctx: click.Context,
    quick: bool,
    as_json: bool,
    workers: int | None,
    concurrency: int,
    startup: bool,
    bench_db: str | None,
) -> None:
    """Measure throughput, latency, memory and concurrency on a temporary store.

    Runs on a fresh temporary SQLite file unless --db names an empty database (never
    $WFE_DATABASE_URL's); the seed's published figures and a direct trio + sqlite3
    floor are shown alongside.
    """
    from engine import bench as benchmark
    from engine import settings

    def progress(what: str) -> None:
        if not as_json:
            click.echo(f"  {what}…", err=True)

    if startup:
        from engine.bench import results
        from engine.bench import startup as timing

        began = time.perf_counter()
        measured = timing.run(progress=progress)
        report = results.Report(False, measured, results.machine(), time.perf_counter() - began)
        if as_json:
            output.as_json(report.as_dict())
        else:
            click.echo(benchmark.format_table(report, "wfe bench --cli"))
        return
    url = bench_db or (ctx.find_root().obj or {}).get("db")
    url = settings.database_url(url) if url else None
    if workers is not None:
        from engine.bench import results

        began = time.perf_counter()
        progress(f"{workers} worker(s) beside the queue floor")
        measured = benchmark.workers(
            url=url,
            count=workers,
            concurrency=concurrency,
            executions=1000 if quick else 3000,
            rounds=1 if quick else 3,
            samples=10 if quick else 50,
            memory_executions=0 if quick else 100_000,
        )
        report = results.Report(quick, measured, results.machine(), time.perf_counter() - began)
        title = f"wfe bench --workers {workers}" + (" --quick" if quick else "")
        if as_json:
            output.as_json(report.as_dict())
        else:
            click.echo(benchmark.format_table(report, title))
        return
    report = benchmark.run(quick=quick, url=url, progress=progress)
    if as_json:
        output.as_json(report.as_dict())
    else:
        click.echo(benchmark.format_table(report))
