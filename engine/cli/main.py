"""The ``wfe`` group: its global options, and every command under it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from engine.cli import approvals, executions, maintenance, reports, running, workflows
from engine.cli.base import Group, context_of
from engine.errors import EngineError

if TYPE_CHECKING:
    from collections.abc import Callable


@click.group(
    cls=Group,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--db",
    metavar="URL",
    help="Database URL or SQLite path (default: $WFE_DATABASE_URL, then the data folder).",
)
@click.option(
    "--context",
    metavar="NAME",
    help="A store named in config.toml ([contexts.NAME]; default: $WFE_CONTEXT, then default).",
)
@click.version_option(package_name="workflow-engine", prog_name="wfe")
@click.pass_context
def main(ctx: click.Context, db: str | None, context: str | None) -> None:
    """WorkflowEngine: declare workflows in YAML, run them durably, watch them.

    With no command, opens the console.
    """
    ctx.obj = {"db": db, "context": context}
    if ctx.invoked_subcommand is None:
        ctx.invoke(console)


@main.command()
@click.option(
    "--read-only",
    is_flag=True,
    help="Look but do not touch: no action that writes, and no work run in the console.",
)
@click.pass_context
def console(ctx: click.Context, read_only: bool = False) -> None:
    """Open the terminal console."""
    from importlib import metadata  # a tenth of the start-up of a quick command

    found = metadata.entry_points(group="workflow_engine.console")
    if not found:
        click.echo(ctx.parent.get_help() if ctx.parent else "")
        raise EngineError("the console is not installed; `pip install workflow-engine` brings it")
    run_console: Callable[..., int] = next(iter(found)).load()
    chosen = context_of(ctx)
    ctx.exit(run_console(chosen.url, read_only=read_only or chosen.read_only, context=chosen.name))


for command in (
    workflows.validate,
    workflows.schema,
    workflows.workflow,
    running.run,
    running.rerun,
    running.cancel,
    running.worker_command,
    executions.executions,
    executions.logs,
    approvals.approvals,
    approvals.approve,
    approvals.reject,
    approvals.step,
    reports.stats,
    reports.health,
    maintenance.prune,
    maintenance.bench,
):
    main.add_command(command)
