"""``wfe validate`` and ``wfe workflow …``: check, add, list, show, enable, disable, remove."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.cli import output
from engine.cli.base import EXIT_FAILED, OFFSET, Group, open_db
from engine.errors import DefinitionError, EngineError, Problem

if TYPE_CHECKING:
    from engine import definition


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check workflow files (or folders of them) without running anything."""
    from engine import definition

    bad = 0
    for path in _expand(files):
        try:
            wf = definition.load(path)
        except DefinitionError as exc:
            bad += 1
            click.secho(str(exc), fg="red", err=True)
        else:
            click.echo(f"{path}: ok ({wf.name}, {len(wf.steps)} steps)")
    if bad:
        raise click.exceptions.Exit(EXIT_FAILED)


@click.command()
def schema() -> None:
    """Print a JSON Schema of the workflow file, for editors.

    Save it and name it on the first line of a workflow file:

        wfe schema > wfe.schema.json
        # yaml-language-server: $schema=./wfe.schema.json
    """
    import json

    from engine.definition.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


def _expand(paths: Sequence[Path]) -> list[Path]:
    from engine import definition

    files: list[Path] = []
    for p in paths:
        files.extend(definition.workflow_files(p))
    if not files:
        raise EngineError(f"no workflow files (*.yaml, *.yml) in {', '.join(map(str, paths))}")
    return files


@click.group(cls=Group)
def workflow() -> None:
    """Add, list, show, enable, disable and remove workflows."""


@workflow.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def workflow_add(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Add or update workflows from files or folders; all of them, or none."""
    from engine import definition, store

    parsed: list[tuple[definition.Workflow, str | None]] = []
    problems = []
    names: dict[str, Path] = {}
    for path in _expand(paths):
        try:
            wf = definition.load(path)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        if wf.name in names:
            problems.append(
                Problem(
                    str(path),
                    1,
                    "name",
                    f"workflow name {wf.name!r} is also used by {names[wf.name]}",
                )
            )
            continue
        names[wf.name] = path
        parsed.append((wf, str(path.resolve())))
    if problems:
        raise DefinitionError(problems)
    with open_db(ctx) as db:
        for saved in store.save_workflows(db, parsed):
            row = saved.workflow
            click.echo(f"{saved.change:9}  {row.name} (version {row.version})")


@workflow.command("list")
@click.option("--search", help="Only names that contain this.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, type=OFFSET)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def workflow_list(
    ctx: click.Context, search: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """List workflows with their last run."""
    from engine import store

    with open_db(ctx) as db:
        page, total = store.list_workflows(db, offset=offset, limit=limit, search=search)
    if as_json:
        output.as_json({"total": total, "offset": offset, "items": [s.as_json() for s in page]})
        return
    if not total:
        click.echo("No workflows yet. Add some: wfe workflow add examples/")
        return
    output.table(
        ["name", "active", "ver", "last run", "when", "success", "schedule"],
        [
            [
                s.workflow.name,
                "yes" if s.workflow.active else "no",
                s.workflow.version,
                output.plain_status(s.last_status),
                output.local(s.last_run_at),
                f"{s.success_rate:.0%}" if s.success_rate is not None else "-",
                s.workflow.schedule or "-",
            ]
            for s in page
        ],
    )
    output.more(total, offset, len(page), "wfe workflow list")


@workflow.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def workflow_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a workflow's definition and details."""
    from engine import store

    with open_db(ctx) as db:
        row = store.get_workflow(db, name)
    if as_json:
        output.as_json(row.as_json())
        return
    click.secho(
        f"{row.name}  (version {row.version}, {'active' if row.active else 'disabled'})",
        bold=True,
    )
    if row.description:
        click.echo(row.description)
    click.echo(f"updated {output.local(row.updated_at)}; from {row.source_path or '-'}")
    click.echo()
    click.echo(row.definition.rstrip())


def _set_active(ctx: click.Context, name: str, active: bool) -> None:
    from engine import store

    with open_db(ctx) as db:
        store.set_active(db, name, active)
    click.echo(f"{name} {'enabled' if active else 'disabled'}")


@workflow.command("enable")
@click.argument("name")
@click.pass_context
def workflow_enable(ctx: click.Context, name: str) -> None:
    """Allow a workflow to run."""
    _set_active(ctx, name, True)


@workflow.command("disable")
@click.argument("name")
@click.pass_context
def workflow_disable(ctx: click.Context, name: str) -> None:
    """Stop a workflow from running (its history stays)."""
    _set_active(ctx, name, False)


@workflow.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.pass_context
def workflow_remove(ctx: click.Context, name: str, yes: bool) -> None:
    """Remove a workflow and its whole history."""
    from engine import store

    with open_db(ctx) as db:
        store.get_workflow(db, name)
        if not yes and not click.confirm(f"Remove {name} and all its executions?", default=False):
            raise click.exceptions.Exit(EXIT_FAILED)
        removed = store.remove_workflow(db, name)
    click.echo(f"removed {name} and {removed} execution(s)")
