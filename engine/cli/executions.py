"""``wfe executions list|show`` and ``wfe logs``: what ran, how, and what it printed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from engine.cli import output
from engine.cli.base import EXECUTION_ID, OFFSET, Group, open_db
from engine.status import ExecutionStatus

if TYPE_CHECKING:
    from engine import store

ITEMS_SHOWN = 10  # of each foreach step, without --items


@click.group(cls=Group)
def executions() -> None:
    """List and inspect executions."""


@executions.command("list")
@click.option("--status", type=click.Choice([s.value for s in ExecutionStatus]))
@click.option("--workflow", metavar="NAME")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, type=OFFSET)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def executions_list(
    ctx: click.Context,
    status: str | None,
    workflow: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """Executions, newest first."""
    from engine import store

    with open_db(ctx) as db:
        rows, total = store.list_executions(
            db, status=status, workflow=workflow, offset=offset, limit=limit
        )
    if as_json:
        output.as_json({"total": total, "offset": offset, "items": [e.as_json() for e in rows]})
        return
    if not total:
        click.echo("No executions match.")
        return
    output.table(
        ["id", "workflow", "status", "trigger", "started", "duration", "error"],
        [
            [
                e.id,
                e.workflow_name,
                output.plain_status(e.status),
                e.trigger,
                # (one not started yet says when it was queued, as that)
                output.local(e.started_at)
                if e.started_at
                else f"queued {output.local(e.queued_at)}",
                output.ms(e.duration_ms),
                (e.error or "")[:60],
            ]
            for e in rows
        ],
    )
    output.more(total, offset, len(rows), "wfe executions list")


@executions.command("show")
@click.argument("execution_id", type=EXECUTION_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--items",
    "all_items",
    is_flag=True,
    help=f"Every item of a foreach step (default: the first {ITEMS_SHOWN}).",
)
@click.pass_context
def executions_show(ctx: click.Context, execution_id: int, as_json: bool, all_items: bool) -> None:
    """An execution and its steps (a foreach step's items under it)."""
    from engine import store

    with open_db(ctx) as db:
        e = store.get_execution(db, execution_id)
        runs = store.step_runs(db, execution_id)
        kids = store.children(db, execution_id)
    if as_json:
        output.as_json(
            {
                **e.as_json(),
                "steps": [r.as_json() for r in runs],
                "children": [c.as_json() for c in kids],
            }
        )
        return
    click.secho(
        f"execution {e.id}  {e.workflow_name} v{e.version}  {output.status(e.status)}", bold=True
    )
    click.echo(
        f"trigger {e.trigger}; queued {output.local(e.queued_at)};"
        f" started {output.local(e.started_at)}; finished {output.local(e.finished_at)};"
        f" took {output.ms(e.duration_ms)}"
    )
    if e.parent_id is not None:
        click.echo(f"child of execution {e.parent_id} (its step {e.parent_step})")
    if e.params:
        click.echo("params " + json.dumps(e.params))
    if e.error:
        click.secho(f"error: {e.error}", fg="red")
    if runs:
        click.echo()
        output.table(
            ["step", "status", "attempt", "started", "duration", "exit", "output / error"],
            _step_rows(runs, None if all_items else ITEMS_SHOWN),
        )
    if kids:
        click.echo()
        click.echo("child executions (workflow: steps):")
        for c in kids:
            took = f" in {output.ms(c.duration_ms)}" if c.duration_ms is not None else ""
            click.echo(
                f"  {c.parent_step} -> execution {c.id} of {c.workflow_name}"
                f"  {output.plain_status(c.status)}{took}"
            )


def _step_rows(runs: list[store.StepRun], items_shown: int | None) -> list[list[object]]:
    """A row per step run; past ``items_shown`` items of a step, one line says how many more."""
    rows: list[list[object]] = []
    seen: dict[str, int] = {}
    hidden: dict[str, int] = {}

    def say_hidden(step: str) -> None:
        n = hidden.pop(step, 0)
        if n:
            more = f"{n:,} more items of {step} (--items shows them)"
            rows.append([f"{step}[…]", "", "", "", "", "", more])

    current = ""
    for r in runs:
        base, bracket, _ = r.step_id.partition("[")
        if not bracket or base != current:
            say_hidden(current)
            current = base
        if bracket:
            seen[base] = seen.get(base, 0) + 1
            if items_shown is not None and seen[base] > items_shown:
                hidden[base] = hidden.get(base, 0) + 1
                continue
        rows.append(
            [
                r.step_id,
                output.plain_status(r.status),
                r.attempt,
                output.local(r.started_at),
                output.ms(r.duration_ms),
                "-" if r.exit_code is None else r.exit_code,
                (r.error or output.short(r.output))[:60],
            ]
        )
    say_hidden(current)
    return rows


@click.command()
@click.argument("execution_id", type=EXECUTION_ID)
@click.option("--step", "step_id", help="Only this step's lines.")
@click.pass_context
def logs(ctx: click.Context, execution_id: int, step_id: str | None) -> None:
    """Print an execution's log."""
    from engine import store

    page_size = 2000
    with open_db(ctx) as db:
        store.get_execution(db, execution_id)
        after = 0
        while True:
            page = store.log_lines(
                db, execution_id, step_id=step_id, after_seq=after, limit=page_size
            )
            for line in page:
                click.secho(output.log_text(line), fg=output.STREAM_COLOUR.get(line.stream))
            if len(page) < page_size:
                break
            after = page[-1].seq
