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
    "--workers", "with_workers", is_flag=True, help="Also time real `wfe worker` processes."
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
    with_workers: bool,
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
    report = benchmark.run(
        quick=quick, url=settings.database_url(url) if url else None, progress=progress
    )
    if with_workers:
        progress("workers")
        report.results.extend(benchmark.workers())
    if as_json:
        output.as_json(report.as_dict())
    else:
        click.echo(benchmark.format_table(report))
