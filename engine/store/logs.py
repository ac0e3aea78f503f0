"""An execution's log: its lines in order, from the start, after a line or at its end."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.connection import Store, translate_errors
from engine.store.records import LogLine
from engine.store.tables import LOG_LINE

g = LOG_LINE.c


def log_lines(
    store: Store,
    execution_id: int,
    *,
    step_id: str | None = None,
    after_seq: int = 0,
    limit: int = 1000,
) -> list[LogLine]:
    """Lines after ``after_seq`` in order; page with the last line's ``seq``.

    ``step_id``: that step's lines, a foreach step's with its items' (``ID[…]``).
    """
    where = [g.execution_id == execution_id, g.seq > after_seq]
    if step_id is not None:
        where.append(
            sa.or_(g.step_id == step_id, g.step_id.startswith(f"{step_id}[", autoescape=True))
        )
    with translate_errors(store), store.engine.connect() as conn:
        return [
            LogLine.of(r)
            for r in conn.execute(
                sa.select(LOG_LINE).where(*where).order_by(g.seq).limit(limit)
            ).mappings()
        ]


def log_tail(
    store: Store, execution_id: int, *, limit: int, before_seq: int | None = None
) -> list[LogLine]:
    """The last ``limit`` lines of an execution's log (before ``before_seq``), in order."""
    where = [g.execution_id == execution_id]
    if before_seq is not None:
        where.append(g.seq < before_seq)
    with translate_errors(store), store.engine.connect() as conn:
        rows = [
            LogLine.of(r)
            for r in conn.execute(
                sa.select(LOG_LINE).where(*where).order_by(g.seq.desc()).limit(limit)
            ).mappings()
        ]
    return rows[::-1]


def last_log_seq(store: Store, execution_id: int) -> int:
    """The ``seq`` of an execution's last log line (0 when it has none)."""
    with translate_errors(store), store.engine.connect() as conn:
        value = conn.execute(
            sa.select(sa.func.max(g.seq)).where(g.execution_id == execution_id)
        ).scalar_one_or_none()
    return int(value or 0)
