"""The plumbing every command shares: engine errors become one line and an exit status.

An :class:`~engine.errors.EngineError` (and trio's exception groups of them) ends the
command with ``error: …`` on stderr and exit status 1; ctrl-c with 130. Anything else is
a bug: its traceback is printed, as it should be.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import click

from engine import contexts
from engine.errors import EngineError, StoreBusy

if TYPE_CHECKING:
    from engine import store

EXIT_FAILED = 1
EXIT_CANCELLED = 130

# Every number from the command line is checked against what the store can hold (a
# 64-bit integer) before it reaches it: a usage error, never an overflow.
BIGGEST = 2**63 - 1
EXECUTION_ID = click.IntRange(1, BIGGEST)
OFFSET = click.IntRange(0, BIGGEST)
LONGEST = 100 * 365 * 86400.0  # a century: past it a duration is a typo


class Group(click.Group):
    """A group that turns engine errors into one line and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BaseExceptionGroup as group:
            # trio's nurseries wrap what escapes them; show the engine's own errors plainly.
            leaves = list(_leaves(group))
            if not all(isinstance(e, EngineError | KeyboardInterrupt) for e in leaves):
                raise
            fail(ctx, leaves[0])
        except (EngineError, KeyboardInterrupt) as exc:
            fail(ctx, exc)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def fail(ctx: click.Context, exc: BaseException) -> NoReturn:
    """End the command for ``exc``: one line (or a list of problems) and the exit status."""
    if isinstance(exc, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        ctx.exit(EXIT_CANCELLED)
    text = str(exc)
    click.secho(f"error: {text}" if "\n" not in text else f"error:\n{text}", err=True, fg="red")
    ctx.exit(EXIT_FAILED)


def database_url(ctx: click.Context) -> str:
    """The store this command works on: ``--db`` or ``--context``, then ``WFE_CONTEXT``,
    then ``WFE_DATABASE_URL``, then the default."""
    return context_of(ctx).url


def context_of(ctx: click.Context) -> contexts.Context:
    """The named store (context) this command works on (see :mod:`engine.contexts`)."""
    obj = ctx.find_root().obj or {}
    return contexts.pick(obj.get("context"), obj.get("db"))


@contextlib.contextmanager
def open_db(ctx: click.Context) -> Iterator[store.Store]:
    """The command's store, opened (and closed at the end)."""
    from engine import store
    from engine.store import dialects

    db = store.open_store(database_url(ctx))
    try:
        yield db
    except StoreBusy as exc:
        # A write waited its limit for another process's lock: say who may hold it.
        who = db.dialect.holders(db.engine)
        held = f"; the store is open in {', '.join(who)}" if who else ""
        raise StoreBusy(
            f"{exc} (after waiting {dialects.BUSY_WAIT:g}s){held}; try again once it is done"
        ) from exc
    finally:
        db.close()


def parse_duration(value: str, option: str) -> float:
    """A duration given on the command line, or a usage error naming the option."""
    from engine.definition.durations import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc
    if seconds > LONGEST:
        raise click.BadParameter(f"{value!r} is longer than a century", param_hint=option)
    return seconds
