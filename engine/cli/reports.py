"""``wfe stats`` and ``wfe health``: the numbers, and whether the store is well."""

from __future__ import annotations

import click

from engine.cli import output
from engine.cli.base import EXIT_FAILED, open_db, parse_duration


@click.command()
@click.option(
    "--since", metavar="DURATION", help="Count finished executions of this period only (e.g. 24h)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def stats(ctx: click.Context, since: str | None, as_json: bool) -> None:
    """Workflow and execution counts, success rate, average duration (one query)."""
    from engine import store

    since_at = store.since_hours(parse_duration(since, "--since") / 3600) if since else None
    with open_db(ctx) as db:
        s = store.stats(db, since=since_at)
    if as_json:
        output.as_json(s.as_json())
        return
    rate = f"{s.success_rate:.1%}" if s.success_rate is not None else "-"
    rows = [
        ("workflows", f"{s.workflows} ({s.active_workflows} active)"),
        ("running", s.running),
        ("queued", s.queued),
        ("succeeded", s.succeeded),
        ("failed", s.failed),
        ("cancelled", s.cancelled),
        ("success rate", rate),
        ("average duration", output.ms(s.average_duration_ms)),
    ]
    for label, value in rows:
        click.echo(f"{label:>17}  {value}")


def megabytes(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:,.1f} MB"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def health(ctx: click.Context, as_json: bool) -> None:
    """Is the store reachable; its schema, size and free disk; this process's memory."""
    from engine import memory, store

    with open_db(ctx) as db:
        h = store.health(db)
    report = {
        **h.as_json(),
        "schema_supported": store.SCHEMA_VERSION,
        "process_rss_bytes": memory.rss_bytes(),
    }
    if as_json:
        output.as_json(report)
    else:
        state = "reachable" if h.reachable else f"UNREACHABLE: {h.error or ''}"
        click.echo(f"store       {h.url}  {state}")
        click.echo(f"schema      {h.schema_version} (this wfe: {store.SCHEMA_VERSION})")
        click.echo(f"size        {megabytes(h.size_bytes)}")
        click.echo(f"free disk   {megabytes(h.free_disk_bytes)}")
        click.echo(f"memory      {megabytes(report['process_rss_bytes'])} (this process)")
    if not h.reachable:
        raise click.exceptions.Exit(EXIT_FAILED)
