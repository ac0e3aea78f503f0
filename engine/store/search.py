"""The console's filter, as SQL: fuzzy, the way fzf matches.

Each word typed must match one of the columns with its characters in order and anything
between them (``bkp`` finds ``backup``, ``nightly-bkp`` and ``db-backup-2``), in any case.
It is a ``LIKE '%b%k%p%'`` per word and column: the same on SQLite and PostgreSQL, with
``%``, ``_`` and ``\\`` typed by the user matched as themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

ESCAPE = "\\"


def pattern(word: str) -> str:
    """``bkp`` → ``%b%k%p%``, each character escaped."""
    chars = (ESCAPE + c if c in "%_\\" else c for c in word.lower())
    return "%" + "%".join(chars) + "%"


def fuzzy(text: str, columns: Sequence[sa.ColumnElement[Any]]) -> sa.ColumnElement[bool]:
    """Every word of ``text`` matching (fuzzily) at least one of ``columns``."""
    words = text.split()
    return sa.and_(
        sa.true(),
        *(
            sa.or_(*(sa.func.lower(c).like(pattern(word), escape=ESCAPE) for c in columns))
            for word in words
        ),
    )
