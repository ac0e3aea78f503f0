"""``wfe run``, ``wfe rerun``, ``wfe cancel`` and ``wfe worker``."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import click

from engine import settings
from engine.cli import output
from engine.cli.base import EXECUTION_ID, EXIT_CANCELLED, EXIT_FAILED, open_db, parse_duration
from engine.errors import InvalidParams

if TYPE_CHECKING:
    from engine import definition, runtime, store

logger = logging.getLogger(__name__)


def _parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidParams(f"-p {pair!r}: write -p name=value")
        params[key] = raw
    return params


@click.command()
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
@click.option(
    "--params-from",
    "params_from",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    metavar="FILE",
    help="With --detach: queue one execution per line, each a JSON object of params"
    " (over -p and the defaults); - reads stdin.",
)
@click.option("--max-parallel-steps", default=16, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_context
def run(
    ctx: click.Context,
    name: str,
    params: tuple[str, ...],
    quiet: bool,
    detach: bool,
    params_from: str | None,
    max_parallel_steps: int,
) -> None:
    """Run a workflow in the foreground; ctrl-c cancels it.

    Exits 0 when it succeeds, 1 when it fails or times out, 130 when cancelled.
    """
    from engine import definition, store

    raw = _parse_params(params)
    if params_from is not None and not detach:
        raise click.UsageError("--params-from queues executions for workers: add --detach")
    with open_db(ctx) as db:
        row = store.get_workflow(db, name)
        wf = definition.parsed(row)
        given = wf.coerce_params(raw)
        if detach:
            if not row.active:
                raise InvalidParams(
                    f"workflow {name!r} is disabled; `wfe workflow enable {name}` first"
                )
            if params_from is not None:
                source = "<stdin>" if params_from == "-" else params_from
                with _opened(params_from) as stream:
                    lines, numbers = _params_lines(stream, source, wf, given)
                if not lines:
                    click.echo(f"{source}: no params, nothing queued", err=True)
                    return
                _queue_lines(ctx, db, row, lines, numbers, source)
                if not store.live_runners(db):
                    click.echo(
                        "no worker is running; `wfe worker` (or an open console) will run them",
                        err=True,
                    )
                return
            execution = store.create_execution(db, row, given, trigger="detached")
            click.echo(execution.id)
            if not store.live_runners(db):
                click.echo(
                    "no worker is running; `wfe worker` (or an open console) will run it",
                    err=True,
                )
            return

        _follow(db, lambda ex: ex.start(name, given), name, quiet, max_parallel_steps)


BULK_BATCH = 5_000  # executions queued in one transaction by --params-from


@contextlib.contextmanager
def _opened(path: str) -> Iterator[TextIO]:
    """``--params-from``'s lines as text: UTF-8 (a BOM skipped), any line ending; bytes
    that are not UTF-8 kept as lone surrogates for :func:`_params_lines` to point at."""
    if path == "-":
        if sys.stdin is None:
            raise click.UsageError("--params-from -: there is no stdin (it is closed)")
        binary: BinaryIO = sys.stdin.buffer
    else:
        try:
            binary = open(path, "rb")  # noqa: SIM115 (closed below, with its wrapper)
        except OSError as exc:
            raise click.UsageError(f"--params-from {path}: {exc.strerror}") from exc
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape")
    try:
        yield text
    finally:
        if path == "-":
            text.detach()  # stdin stays open
        else:
            text.close()


_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _params_lines(
    source: TextIO, name: str, wf: definition.Workflow, base: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[int]]:
    """Each line's params over ``base``, every line checked before any is queued; and
    the number of the line each came from."""
    out: list[dict[str, Any]] = []
    numbers: list[int] = []
    for number, line in enumerate(source, 1):
        where = f"{name}:{number}"
        if not line.strip():
            continue
        bad = _NOT_UTF8.search(line)
        if bad is not None:
            byte = ord(bad.group()) - 0xDC00
            raise InvalidParams(
                f"{where}: not UTF-8 text (byte 0x{byte:02x} at column {bad.start() + 1})"
            )
        try:
            given = json.loads(line.rstrip("\r\n"))  # (a position past the text is its end)
        except json.JSONDecodeError as exc:
            raise InvalidParams(f"{where}: not JSON: {exc.msg} (column {exc.colno})") from exc
        except RecursionError as exc:
            raise InvalidParams(f"{where}: not JSON this engine reads: nested too deeply") from exc
        except ValueError as exc:  # a number of more digits than Python reads
            raise InvalidParams(
                f"{where}: a number too long to read (more than"
                f" {sys.get_int_max_str_digits():,} digits)"
            ) from exc
        if not isinstance(given, dict):
            raise InvalidParams(f"{where}: a line is a JSON object of params")
        try:
            wf.check_types(given)
            out.append(wf.merge_params({**base, **given}))
        except InvalidParams as exc:
            raise InvalidParams(f"{where}: {exc}") from exc
        numbers.append(number)
    return out, numbers


def _queue_lines(
    ctx: click.Context,
    db: store.Store,
    row: store.Workflow,
    lines: list[dict[str, Any]],
    numbers: list[int],
    source: str,
) -> None:
    """Queue ``lines`` in transactions of BULK_BATCH; on a signal, stop after the batch
    under way, and when queueing stops part way, say exactly which lines were queued."""
    from engine import store
    from engine.errors import EngineError

    ids: list[int] = []
    stopped: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopped.append(signal.Signals(signum).name)
        for s, handler in previous.items():  # a second one acts as it always does
            signal.signal(s, handler)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, on_signal)
    try:
        for start in range(0, len(lines), BULK_BATCH):
            if stopped:
                break
            try:
                made = store.queue_many(db, row, lines[start : start + BULK_BATCH], "detached")
            except EngineError as exc:
                if not ids:
                    raise
                click.secho(f"error: {exc}", err=True, fg="red")
                click.echo(_partly(ids, len(lines), numbers, source), err=True)
                ctx.exit(EXIT_FAILED)
            ids += made
    except KeyboardInterrupt:  # a second ctrl-c: at once, still saying what was queued
        if ids:
            click.echo(f"interrupted: {_partly(ids, len(lines), numbers, source)}", err=True)
            ctx.exit(EXIT_CANCELLED)
        raise
    finally:
        for s, handler in previous.items():
            if signal.getsignal(s) is on_signal:
                signal.signal(s, handler)
    if stopped and len(ids) < len(lines):
        click.echo(
            f"interrupted ({stopped[0]}): {_partly(ids, len(lines), numbers, source)}", err=True
        )
        ctx.exit(EXIT_CANCELLED)
    count = f"{len(lines):,} execution{'s' if len(lines) != 1 else ''}"
    click.echo(f"queued {count} of {row.name}: ids {ids[0]} to {ids[-1]}")


def _partly(ids: list[int], total: int, numbers: list[int], source: str) -> str:
    """Which of ``source``'s lines were queued, and which not, when queueing stopped."""
    done = len(ids)
    return (
        f"queued {done:,} of {total:,} (lines 1 to {numbers[done - 1]:,} of {source},"
        f" ids {ids[0]} to {ids[-1]}); the lines from {numbers[done]:,} on were not queued"
    )


def _follow(
    db: store.Store,
    start: Callable[[runtime.Executor], Awaitable[runtime.ExecutionHandle]],
    name: str,
    quiet: bool,
    max_parallel_steps: int = 16,
) -> None:
    """Run an execution in the foreground with live progress; exit with its outcome."""
    import trio

    from engine import runtime, store
    from engine.status import ExecutionStatus, RunnerKind, StepStatus

    followed: list[int] = []  # the execution this command started

    def show(event: runtime.Event) -> None:
        # A child execution's (workflow: steps) lines say whose they are: [its id] step.
        mine = not followed or event.execution_id == followed[0]
        step = event.step_id if mine else f"[{event.execution_id}] {event.step_id or ''}"
        if event.kind == "log" and not quiet:
            colour = output.STREAM_COLOUR.get(event.stream or "")
            click.secho(f"    {step or '':<12} | {event.text}", fg=colour)
        elif event.kind == "step" and event.status != StepStatus.RUNNING:
            detail = (
                f"  {event.text}" if event.text and event.status != StepStatus.SUCCEEDED else ""
            )
            attempt = f" (attempt {event.attempt})" if event.attempt and event.attempt > 1 else ""
            click.echo(f"  {output.status(event.status)}  {step}{attempt}{detail}")
        elif event.kind == "step" and not quiet:
            click.secho(f"  ▶ {step}", fg="cyan")

    # This process holds a lease like a worker: if it dies, a worker takes over.
    session = runtime.RunnerSession(db, RunnerKind.RUN)
    log_to_stderr(logging.WARNING)  # what goes wrong on the way (the store's troubles)

    async def main() -> tuple[int, str, store.Execution]:
        async with (
            session.open(),
            runtime.open_executor(db, max_parallel_steps=max_parallel_steps, session=session) as ex,
        ):
            ex.add_listener(show)
            handle = await start(ex)
            followed.append(handle.id)
            click.secho(f"execution {handle.id} of {name}", bold=True)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    lambda: session.keep_alive(
                        on_lost=lambda exc: ex.cancel(handle.id, "cancelled: lost the store")
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
            return handle.id, status, row

    execution_id, status, row = trio.run(main)
    click.echo(
        f"{output.status(status)}  execution {execution_id} in {output.ms(row.duration_ms)}"
        + (f": {row.error}" if row.error and status != ExecutionStatus.SUCCEEDED else "")
    )
    if status != ExecutionStatus.SUCCEEDED:
        cancelled = status == ExecutionStatus.CANCELLED
        raise click.exceptions.Exit(EXIT_CANCELLED if cancelled else EXIT_FAILED)


@click.command()
@click.argument("execution_id", type=EXECUTION_ID)
@click.option(
    "--from", "from_step", metavar="STEP", help="Reuse the outputs of the steps before STEP."
)
@click.option(
    "--only",
    "only_step",
    metavar="STEP",
    help="Run STEP and the steps that need it; every other step keeps its result.",
)
@click.option("--detach", is_flag=True, help="Queue it for a `wfe worker` and print its id.")
@click.option("--quiet", "-q", is_flag=True, help="Show step results only, not their log lines.")
@click.pass_context
def rerun(
    ctx: click.Context,
    execution_id: int,
    from_step: str | None,
    only_step: str | None,
    detach: bool,
    quiet: bool,
) -> None:
    """Run an execution again with the same params: from the start, from STEP, or only
    STEP and what follows from it."""
    from engine import store
    from engine.runtime import reruns

    if from_step is not None and only_step is not None:
        raise click.UsageError("give --from or --only, not both")
    with open_db(ctx) as db:
        new = reruns.rerun(db, execution_id, from_step, only=only_step)
        if detach:
            click.echo(new.id)
            return

        async def start(ex: runtime.Executor) -> runtime.ExecutionHandle:
            import trio

            # Lease it to this process first, as `wfe run` does its own.
            await trio.to_thread.run_sync(store.assign, db, new.id, ex.owner)
            return await ex.start_existing(new.id, resume=True)

        _follow(db, start, new.workflow_name, quiet)


@click.command()
@click.argument("execution_id", type=EXECUTION_ID)
@click.pass_context
def cancel(ctx: click.Context, execution_id: int) -> None:
    """Ask a queued or running execution to stop."""
    from engine import store
    from engine.status import ExecutionStatus

    with open_db(ctx) as db:
        previous = store.request_cancel(db, execution_id)
    if previous == ExecutionStatus.QUEUED:
        click.echo(f"execution {execution_id} cancelled")
    elif previous == ExecutionStatus.RUNNING:
        click.echo(
            f"execution {execution_id}: cancel requested; its runner stops it within seconds"
        )
    else:
        click.echo(f"execution {execution_id} had already finished ({previous})")


@click.command("worker")
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(1, 10_000),
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
    default=f"{settings.DEFAULT_LEASE:g}s",
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
    import trio

    from engine.runtime import session, worker

    lease_s = parse_duration(lease, "--lease")
    if lease_s < 1:
        raise click.BadParameter(
            "a lease shorter than 1s would be lost between heartbeats", param_hint="--lease"
        )
    options = worker.WorkerOptions(
        concurrency=concurrency,
        grace=parse_duration(grace, "--grace"),
        lease=lease_s,
        retention=parse_duration(retention, "--retention"),
        heartbeat_interval=min(session.HEARTBEAT, lease_s / 3),
    )
    log_to_stderr()
    with open_db(ctx) as db:
        trio.run(lambda: worker.serve(db, options))


def log_to_stderr(level: int = logging.INFO) -> None:
    """A runner's log on stderr: a line each, with the time; errors with their traceback."""
    root = logging.getLogger("engine")
    if not any(getattr(h, "wfe_stderr", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        handler.wfe_stderr = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
