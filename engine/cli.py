"""The ``wfe`` command (click).

Every command opens the store named by ``--db``, ``WFE_DATABASE_URL`` or the default
SQLite file. An :class:`~engine.errors.EngineError` becomes one line on stderr and exit
status 1; a traceback is a bug.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import click
import trio

from engine import definition, settings, store, worker
from engine.errors import DefinitionError, EngineError, InvalidParams, Problem

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_CANCELLED = 130

# ---------------------------------------------------------------------------
# Plumbing
# ---------------------------------------------------------------------------


class _Group(click.Group):
    """A group that turns engine errors into one line and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BaseExceptionGroup as group:
            # trio's nurseries wrap what escapes them; show the engine's own errors plainly.
            leaves = list(_leaves(group))
            if not all(isinstance(e, EngineError | KeyboardInterrupt) for e in leaves):
                raise
            _fail(ctx, leaves[0])
        except (EngineError, KeyboardInterrupt) as exc:
            _fail(ctx, exc)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _fail(ctx: click.Context, exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        ctx.exit(EXIT_CANCELLED)
    text = str(exc)
    click.secho(f"error: {text}" if "\n" not in text else f"error:\n{text}", err=True, fg="red")
    ctx.exit(EXIT_FAILED)


@contextmanager
def _store(ctx: click.Context) -> Iterator[store.Store]:
    url = settings.database_url(ctx.obj.get("db") if ctx.obj else None)
    db = store.open_store(url)
    try:
        yield db
    finally:
        db.close()


def _local(when: datetime | None) -> str:
    if when is None:
        return "-"
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return definition.format_duration(value / 1000)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    click.secho(
        "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
        bold=True,
    )
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _more(total: int, offset: int, shown: int, hint: str) -> None:
    if offset + shown < total:
        click.echo(f"… {total - offset - shown} more; {hint} --offset {offset + shown}", err=True)


STATUS_STYLE = {
    "succeeded": ("✓", "green"),
    "failed": ("✗", "red"),
    "timed_out": ("⏱", "red"),
    "cancelled": ("⊘", "yellow"),
    "skipped": ("↷", "bright_black"),
    "running": ("▶", "cyan"),
    "queued": ("…", "bright_black"),
    "pending": ("·", "bright_black"),
    "waiting": ("?", "magenta"),
}


def _status(status: str | None) -> str:
    if status is None:
        return "-"
    symbol, colour = STATUS_STYLE.get(status, ("?", "white"))
    return click.style(f"{symbol} {status}", fg=colour)


def _plain_status(status: str | None) -> str:
    if status is None:
        return "-"
    return f"{STATUS_STYLE.get(status, ('?', ''))[0]} {status}"


def _parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidParams(f"-p {pair!r}: write -p name=value")
        params[key] = raw
    return params


# ---------------------------------------------------------------------------
# The command tree
# ---------------------------------------------------------------------------


@click.group(
    cls=_Group,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--db",
    metavar="URL",
    help="Database URL or SQLite path (default: $WFE_DATABASE_URL, then the data folder).",
)
@click.version_option(package_name="workflow-engine", prog_name="wfe")
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """WorkflowEngine: declare workflows in YAML, run them durably, watch them.

    With no command, opens the console.
    """
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand is None:
        ctx.invoke(console)


@main.command()
@click.pass_context
def console(ctx: click.Context) -> None:
    """Open the terminal console."""
    found = metadata.entry_points(group="workflow_engine.console")
    if not found:
        click.echo(ctx.parent.get_help() if ctx.parent else "")
        raise EngineError("the console is not installed; `pip install workflow-engine` brings it")
    run_console: Callable[[str], int] = next(iter(found)).load()
    url = settings.database_url(ctx.obj.get("db"))
    ctx.exit(run_console(url))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check workflow files (or folders of them) without running anything."""
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


def _expand(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        files.extend(definition.workflow_files(p))
    if not files:
        raise EngineError(f"no workflow files (*.yaml, *.yml) in {', '.join(map(str, paths))}")
    return files


# -- workflows ---------------------------------------------------------------


@main.group(cls=_Group)
def workflow() -> None:
    """Add, list, show, enable, disable and remove workflows."""


@workflow.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def workflow_add(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Add or update workflows from files or folders; all of them, or none."""
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
    with _store(ctx) as db:
        for saved in store.save_workflows(db, parsed):
            row = saved.workflow
            click.echo(f"{saved.change:9}  {row.name} (version {row.version})")


@workflow.command("list")
@click.option("--search", help="Only names that contain this.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, type=click.IntRange(0))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def workflow_list(
    ctx: click.Context, search: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """List workflows with their last run."""
    with _store(ctx) as db:
        page, total = store.list_workflows(db, offset=offset, limit=limit, search=search)
    if as_json:
        _json(
            {
                "total": total,
                "offset": offset,
                "items": [
                    {
                        "name": s.workflow.name,
                        "description": s.workflow.description,
                        "version": s.workflow.version,
                        "active": s.workflow.is_active,
                        "schedule": s.workflow.schedule,
                        "last_status": s.last_status,
                        "last_run_at": s.last_run_at,
                        "success_rate": s.success_rate,
                    }
                    for s in page
                ],
            }
        )
        return
    if not total:
        click.echo("No workflows yet. Add some: wfe workflow add examples/")
        return
    _table(
        ["name", "active", "ver", "last run", "when", "success", "schedule"],
        [
            [
                s.workflow.name,
                "yes" if s.workflow.is_active else "no",
                s.workflow.version,
                _plain_status(s.last_status),
                _local(s.last_run_at),
                f"{s.success_rate:.0%}" if s.success_rate is not None else "-",
                s.workflow.schedule or "-",
            ]
            for s in page
        ],
    )
    _more(total, offset, len(page), "wfe workflow list")


@workflow.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def workflow_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a workflow's definition and details."""
    with _store(ctx) as db:
        row = store.get_workflow(db, name)
    if as_json:
        _json(row.model_dump())
        return
    click.secho(
        f"{row.name}  (version {row.version}, {'active' if row.is_active else 'disabled'})",
        bold=True,
    )
    if row.description:
        click.echo(row.description)
    click.echo(f"updated {_local(row.updated_at)}; from {row.source_path or '-'}")
    click.echo()
    click.echo(row.definition.rstrip())


def _set_active(ctx: click.Context, name: str, active: bool) -> None:
    with _store(ctx) as db:
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
    with _store(ctx) as db:
        store.get_workflow(db, name)
        if not yes and not click.confirm(f"Remove {name} and all its executions?", default=False):
            raise click.exceptions.Exit(EXIT_FAILED)
        removed = store.remove_workflow(db, name)
    click.echo(f"removed {name} and {removed} execution(s)")


# -- running -----------------------------------------------------------------


@main.command()
@click.argument("name")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a parameter (repeatable); VALUE is read as the default's type.",
)
@click.option("--quiet", "-q", is_flag=True, help="Show step results only, not their log lines.")
@click.option("--detach", is_flag=True, help="Queue it for a `wfe worker` and print its id.")
@click.option("--max-parallel-steps", default=16, show_default=True, type=click.IntRange(1))
@click.pass_context
def run(
    ctx: click.Context,
    name: str,
    params: tuple[str, ...],
    quiet: bool,
    detach: bool,
    max_parallel_steps: int,
) -> None:
    """Run a workflow in the foreground; ctrl-c cancels it.

    Exits 0 when it succeeds, 1 when it fails or times out, 130 when cancelled.
    """
    raw = _parse_params(params)
    with _store(ctx) as db:
        row = store.get_workflow(db, name)
        given = definition.parse(row.definition, name).coerce_params(raw)
        if detach:
            if not row.is_active:
                raise InvalidParams(
                    f"workflow {name!r} is disabled; `wfe workflow enable {name}` first"
                )
            execution = store.create_execution(db, row, given, trigger="detached")
            click.echo(execution.id)
            if not store.live_workers(db):
                click.echo(
                    "no worker is running; `wfe worker` (or an open console) will run it",
                    err=True,
                )
            return

        _follow(db, lambda ex: ex.start(name, given), name, quiet, max_parallel_steps)


def _follow(
    db: store.Store,
    start: Callable[[Any], Awaitable[Any]],
    name: str,
    quiet: bool,
    max_parallel_steps: int = 16,
) -> None:
    """Run an execution in the foreground with live progress; exit with its outcome."""
    from engine import executor

    def show(event: executor.Event) -> None:
        if event.kind == "log" and not quiet:
            colour = (
                "red"
                if event.stream == "stderr"
                else ("bright_black" if event.stream == "system" else None)
            )
            click.secho(f"    {event.step_id or '':<12} | {event.text}", fg=colour)
        elif event.kind == "step" and event.status != "running":
            detail = f"  {event.text}" if event.text and event.status != "succeeded" else ""
            attempt = f" (attempt {event.attempt})" if event.attempt and event.attempt > 1 else ""
            click.echo(f"  {_status(event.status)}  {event.step_id}{attempt}{detail}")
        elif event.kind == "step" and event.status == "running" and not quiet:
            click.secho(f"  ▶ {event.step_id}", fg="cyan")

    # This process holds a lease like a worker: if it dies, a worker takes over.
    me = worker.new_identity(1, kind="run")

    async def main_task() -> tuple[int, str, str | None, float | None]:
        await trio.to_thread.run_sync(store.heartbeat, db, me)
        try:
            return await run_it()
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(lambda: store.heartbeat(db, me, stopped=True))

    async def run_it() -> tuple[int, str, str | None, float | None]:
        async with executor.open_executor(
            db, max_parallel_steps=max_parallel_steps, owner=me.id
        ) as ex:
            ex.add_listener(show)
            handle = await start(ex)
            click.secho(f"execution {handle.id} of {name}", bold=True)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    lambda: worker.keep_alive(
                        db, me, on_lost=lambda: ex.cancel(handle.id, "cancelled: lost the store")
                    )
                )

                async def on_signal() -> None:
                    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                        async for signum in signals:
                            how = "ctrl-c" if signum == signal.SIGINT else "SIGTERM"
                            click.secho(f"cancelling ({how})…", fg="yellow", err=True)
                            ex.cancel(handle.id, f"cancelled by {how}")

                nursery.start_soon(on_signal)
                status = await handle.wait()
                nursery.cancel_scope.cancel()
            row = await trio.to_thread.run_sync(store.get_execution, db, handle.id)
            return handle.id, status, row.error, row.duration_ms

    execution_id, status, error, duration = trio.run(main_task)
    click.echo(
        f"{_status(status)}  execution {execution_id} in {_ms(duration)}"
        + (f": {error}" if error and status != "succeeded" else "")
    )
    if status != "succeeded":
        raise click.exceptions.Exit(EXIT_CANCELLED if status == "cancelled" else EXIT_FAILED)


@main.command()
@click.argument("execution_id", type=int)
@click.option(
    "--from", "from_step", metavar="STEP", help="Reuse the outputs of the steps before STEP."
)
@click.option("--detach", is_flag=True, help="Queue it for a `wfe worker` and print its id.")
@click.option("--quiet", "-q", is_flag=True, help="Show step results only, not their log lines.")
@click.pass_context
def rerun(
    ctx: click.Context, execution_id: int, from_step: str | None, detach: bool, quiet: bool
) -> None:
    """Run an execution again with the same params, from the start or from STEP."""
    with _store(ctx) as db:
        new = store.rerun(db, execution_id, from_step)
        assert new.id is not None
        if detach:
            click.echo(new.id)
            return
        execution_id = new.id

        async def start(ex: Any) -> Any:
            # Lease it to this process first, as `wfe run` does its own.
            await trio.to_thread.run_sync(store.assign, db, execution_id, ex.owner)
            return await ex.start_existing(execution_id, resume=True)

        _follow(db, start, new.workflow_name, quiet)


@main.command()
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
    try:
        age = definition.parse_duration(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    with _store(ctx) as db:
        removed = store.prune(db, older_than=age)
    click.echo(
        f"removed {removed} execution(s) finished more than {definition.format_duration(age)} ago"
    )


@main.command("worker")
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(1),
    help="Executions at once.",
)
@click.option(
    "--grace",
    default="10s",
    show_default=True,
    help="How long running executions get to finish on SIGTERM.",
)
@click.option(
    "--lease",
    default=f"{worker.LEASE:g}s",
    show_default=True,
    help="If this worker stays silent this long, others take its executions over.",
)
@click.option(
    "--retention",
    default="30d",
    show_default=True,
    help="Prune finished executions older than this (0: keep all).",
)
@click.pass_context
def worker_command(
    ctx: click.Context, concurrency: int, grace: str, lease: str, retention: str
) -> None:
    """Claim queued executions and run them, until SIGTERM or ctrl-c."""
    durations = {}
    for name, value in (("--grace", grace), ("--lease", lease), ("--retention", retention)):
        try:
            durations[name] = definition.parse_duration(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=name) from None
    options = worker.WorkerOptions(
        concurrency=concurrency,
        grace=durations["--grace"],
        lease=durations["--lease"],
        retention=durations["--retention"],
        heartbeat_interval=min(worker.HEARTBEAT, durations["--lease"] / 3),
    )
    with _store(ctx) as db:
        trio.run(lambda: worker.serve(db, options, say=lambda line: click.echo(line, err=True)))


@main.command()
@click.argument("execution_id", type=int)
@click.pass_context
def cancel(ctx: click.Context, execution_id: int) -> None:
    """Ask a queued or running execution to stop."""
    with _store(ctx) as db:
        previous = store.request_cancel(db, execution_id)
    if previous == "queued":
        click.echo(f"execution {execution_id} cancelled")
    elif previous == "running":
        click.echo(
            f"execution {execution_id}: cancel requested; its runner stops it within seconds"
        )
    else:
        click.echo(f"execution {execution_id} had already finished ({previous})")


# -- approvals ---------------------------------------------------------------


def _decider() -> str:
    import getpass
    import socket

    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return socket.gethostname()


def _decide(
    ctx: click.Context, execution_id: int, step: str, reason: str | None, *, approve: bool
) -> None:
    with _store(ctx) as db:
        store.decide(db, execution_id, step, approve=approve, reason=reason, by=_decider())
    click.echo(f"{'approved' if approve else 'rejected'} execution {execution_id} step {step}")


@main.command()
@click.argument("execution_id", type=int)
@click.argument("step")
@click.option("--reason", help="Why (shown in the log).")
@click.pass_context
def approve(ctx: click.Context, execution_id: int, step: str, reason: str | None) -> None:
    """Approve an approval step that is waiting."""
    _decide(ctx, execution_id, step, reason, approve=True)


@main.command()
@click.argument("execution_id", type=int)
@click.argument("step")
@click.option("--reason", help="Why (shown in the log and the step's error).")
@click.pass_context
def reject(ctx: click.Context, execution_id: int, step: str, reason: str | None) -> None:
    """Reject an approval step that is waiting; the step fails."""
    _decide(ctx, execution_id, step, reason, approve=False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def approvals(ctx: click.Context, as_json: bool) -> None:
    """Approval steps waiting for a decision."""
    with _store(ctx) as db:
        rows = store.pending_approvals(db)
    if as_json:
        _json([r.model_dump() for r in rows])
        return
    if not rows:
        click.echo("Nothing waits for approval.")
        return
    _table(
        ["execution", "workflow", "step", "asked", "prompt"],
        [
            [r.execution_id, r.workflow_name, r.step_id, _local(r.requested_at), r.prompt[:60]]
            for r in rows
        ],
    )


# -- executions --------------------------------------------------------------


@main.group(cls=_Group)
def executions() -> None:
    """List and inspect executions."""


def _execution_dict(e: store.Execution) -> dict[str, Any]:
    return e.model_dump()


@executions.command("list")
@click.option("--status", type=click.Choice(store.EXECUTION_STATUSES))
@click.option("--workflow", metavar="NAME")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, type=click.IntRange(0))
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
    with _store(ctx) as db:
        rows, total = store.list_executions(
            db, status=status, workflow=workflow, offset=offset, limit=limit
        )
    if as_json:
        _json({"total": total, "offset": offset, "items": [_execution_dict(e) for e in rows]})
        return
    if not total:
        click.echo("No executions match.")
        return
    _table(
        ["id", "workflow", "status", "trigger", "started", "duration", "error"],
        [
            [
                e.id,
                e.workflow_name,
                _plain_status(e.status),
                e.trigger,
                _local(e.started_at or e.queued_at),
                _ms(e.duration_ms),
                (e.error or "")[:60],
            ]
            for e in rows
        ],
    )
    _more(total, offset, len(rows), "wfe executions list")


@executions.command("show")
@click.argument("execution_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def executions_show(ctx: click.Context, execution_id: int, as_json: bool) -> None:
    """An execution and its steps."""
    with _store(ctx) as db:
        e = store.get_execution(db, execution_id)
        runs = store.step_runs(db, execution_id)
    if as_json:
        _json({**_execution_dict(e), "steps": [r.model_dump(exclude={"id"}) for r in runs]})
        return
    click.secho(f"execution {e.id}  {e.workflow_name} v{e.version}  {_status(e.status)}", bold=True)
    click.echo(
        f"trigger {e.trigger}; queued {_local(e.queued_at)}; started {_local(e.started_at)};"
        f" finished {_local(e.finished_at)}; took {_ms(e.duration_ms)}"
    )
    if e.params:
        click.echo("params " + json.dumps(e.params))
    if e.error:
        click.secho(f"error: {e.error}", fg="red")
    if runs:
        click.echo()
        _table(
            ["step", "status", "attempt", "started", "duration", "exit", "output / error"],
            [
                [
                    r.step_id,
                    _plain_status(r.status),
                    r.attempt,
                    _local(r.started_at),
                    _ms(r.duration_ms),
                    "-" if r.exit_code is None else r.exit_code,
                    (r.error or _short(r.output))[:60],
                ]
                for r in runs
            ],
        )


def _short(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("\n", " ⏎ ")


@main.command()
@click.argument("execution_id", type=int)
@click.option("--step", "step_id", help="Only this step's lines.")
@click.pass_context
def logs(ctx: click.Context, execution_id: int, step_id: str | None) -> None:
    """Print an execution's log."""
    with _store(ctx) as db:
        store.get_execution(db, execution_id)
        after = 0
        while True:
            page = store.log_lines(db, execution_id, step_id=step_id, after_seq=after, limit=2000)
            for line in page:
                colour = (
                    "red"
                    if line.stream == "stderr"
                    else ("bright_black" if line.stream == "system" else None)
                )
                when = line.time.astimezone().strftime("%H:%M:%S.%f")[:-3]
                click.secho(f"{when} {line.step_id or '-':<12} {line.text}", fg=colour)
            if len(page) < 2000:
                break
            after = page[-1].seq


# -- stats and health ----------------------------------------------------------


@main.command()
@click.option(
    "--since", metavar="DURATION", help="Count finished executions of this period only (e.g. 24h)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def stats(ctx: click.Context, since: str | None, as_json: bool) -> None:
    """Workflow and execution counts, success rate, average duration (one query)."""
    try:
        since_at = store.since_hours(definition.parse_duration(since) / 3600) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with _store(ctx) as db:
        s = store.stats(db, since=since_at)
    if as_json:
        _json(s.as_dict())
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
        ("average duration", _ms(s.average_duration_ms)),
    ]
    for label, value in rows:
        click.echo(f"{label:>17}  {value}")


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            import os

            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def health(ctx: click.Context, as_json: bool) -> None:
    """Is the store reachable; its schema, size and free disk; this process's memory."""
    with _store(ctx) as db:
        h = store.health(db)
    report = {
        **h.as_dict(),
        "schema_supported": store.SCHEMA_VERSION,
        "process_rss_bytes": _rss_bytes(),
    }
    if as_json:
        _json(report)
    else:

        def size(n: int | None) -> str:
            return "-" if n is None else f"{n / 1e6:,.1f} MB"

        state = "reachable" if h.reachable else f"UNREACHABLE: {h.error or ''}"
        click.echo(f"store       {h.url}  {state}")
        click.echo(f"schema      {h.schema_version} (this wfe: {store.SCHEMA_VERSION})")
        click.echo(f"size        {size(h.size_bytes)}")
        click.echo(f"free disk   {size(h.free_disk_bytes)}")
        click.echo(f"memory      {size(report['process_rss_bytes'])} (this process)")
    if not h.reachable:
        raise click.exceptions.Exit(EXIT_FAILED)


@main.command()
@click.option(
    "--quick", is_flag=True, help="Fewer runs and no dashboard-at-scale scenario (under 30 s)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option(
    "--workers", "with_workers", is_flag=True, help="Also time real `wfe worker` processes."
)
@click.option(
    "--db",
    "bench_db",
    metavar="URL",
    help="An empty database to measure on (default: a fresh temporary SQLite file).",
)
@click.pass_context
def bench(
    ctx: click.Context, quick: bool, as_json: bool, with_workers: bool, bench_db: str | None
) -> None:
    """Measure throughput, latency, memory and concurrency on a temporary store.

    Runs on a fresh temporary SQLite file unless --db names an empty database (never
    $WFE_DATABASE_URL's); the seed's published figures and a direct trio + sqlite3
    floor are shown alongside.
    """
    from engine import bench as benchmark

    def progress(what: str) -> None:
        if not as_json:
            click.echo(f"  {what}…", err=True)

    url = bench_db or ctx.obj.get("db")
    report = benchmark.run(
        quick=quick, url=settings.database_url(url) if url else None, progress=progress
    )
    if with_workers:
        progress("workers")
        report.results.extend(benchmark.workers())
    if as_json:
        _json(report.as_dict())
    else:
        click.echo(benchmark.format_table(report))


def run_main() -> None:  # pragma: no cover - the console script
    main(prog_name="wfe")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(prog_name="wfe"))
