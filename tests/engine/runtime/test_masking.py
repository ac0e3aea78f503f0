"""Secrets stay masked where a line, an output or an error is cut, and line by line.

Real shells, the real store; the store's file (and, on PostgreSQL, a dump of every row)
is searched for the start of the secret, as are `wfe logs`, `executions show --json`
and what the foreground run printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import store
from engine.secrets import Masker
from engine.steps.context import MAX_LINE, OUTPUT_CAP
from engine.store import tables
from tests.support import Wfe, add, run

BACKENDS = ("sqlite", "postgresql")

SECRET = "tok-9f8e7d6c5b4a3210"
LINES = "first-line-AAAA\nsecond-line-BBBB\nthird-line-CCCC"


def everything_stored(db: store.Store) -> str:
    """The store's contents as text: its files on SQLite, every row of every table."""
    parts = []
    with db.engine.connect() as conn:
        for table in tables.METADATA.sorted_tables:
            parts.extend(repr(row) for row in conn.execute(sa.select(table)))
    if db.path is not None:
        for file in db.path.parent.glob(db.path.name + "*"):
            parts.append(file.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def left_behind(text: str, secret: str) -> list[str]:
    """The pieces of ``secret`` (its start of 6 characters and more, each line) in ``text``."""
    pieces = [secret[:n] for n in range(6, len(secret) + 1)]
    pieces += [line for line in secret.splitlines() if len(line) >= 4]
    return sorted({p for p in pieces if p in text}, key=len)[-3:]


def test_masker_masks_a_secret_cut_at_the_edge_and_each_line_of_a_long_one() -> None:
    m = Masker([SECRET, LINES])
    assert m.cut("x" * 10 + SECRET, 14) == "x" * 10 + "***"  # masked, then cut
    assert m.cut("x" * 10 + SECRET, 12) == "x" * 10 + "**"
    # A text that holds only the start of a secret (cut before it came here):
    assert m.edge("x" * 10 + SECRET[:6]) == "x" * 10 + "***"
    assert m.edge("x" * 10 + SECRET[:3]) == "x" * 10 + "tok"  # too short to tell
    assert m.text("say second-line-BBBB") == "say ***"
    assert m.text(LINES) == "***"
    assert m.value({"a": [SECRET, 3]}) == {"a": ["***", 3]}


@pytest.mark.trio
async def test_a_secret_cut_by_a_cap_is_masked_in_the_store(
    db: store.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THE_SECRET", SECRET)
    monkeypatch.setenv("MULTI", LINES)
    line_pad, out_pad, err_pad = MAX_LINE - 6, OUTPUT_CAP - 6, 300 - 6
    add(
        db,
        f"""
        name: leaky
        secrets: [THE_SECRET, MULTI]
        steps:
          - id: long-line
            run: printf '%{line_pad}s%s\\n' x "$THE_SECRET" | tr ' ' y
          - id: long-output
            run: head -c {out_pad} /dev/zero | tr '\\0' z; printf '%s' "$THE_SECRET"
          - id: lines
            run: printf '%s\\n' "$MULTI"
          - id: error
            run: printf '%{err_pad}s%s\\n' x "$THE_SECRET" | tr ' ' e >&2; exit 3
            continue_on_error: true
        """,
    )
    handle = await run(db, "leaky", environ=dict(os.environ))
    assert handle.status == "succeeded"
    shown = everything_stored(db)
    assert left_behind(shown, SECRET) == []
    assert left_behind(shown, LINES) == []
    runs = {r.step_id: r for r in store.step_runs(db, handle.id)}
    assert runs["long-output"].output.endswith(
        f"***\n[output truncated: {out_pad + len(SECRET):,} bytes, the first {OUTPUT_CAP:,} kept]"
    )
    assert runs["error"].error == f"exited with code 3: {'e' * (err_pad - 1)}x***"
    assert [line.text for line in store.log_lines(db, handle.id) if line.step_id == "lines"] == [
        "***",
        "***",
        "***",
    ]


def test_the_cli_shows_no_piece_of_a_cut_secret(wfe: Wfe, tmp_path: Path) -> None:
    f = tmp_path / "leak.yaml"
    f.write_text(
        "name: leak\nsecrets: [THE_SECRET]\nsteps:\n"
        f"  - id: a\n    run: printf '%{MAX_LINE - 5}s%s\\n' x \"$THE_SECRET\"\n"
    )
    assert wfe("workflow", "add", str(f)).exit_code == 0
    env = {**wfe.env, "THE_SECRET": SECRET}
    ran = wfe.process("run", "leak", env=env)
    assert ran.returncode == 0, ran.stderr
    shown = wfe("logs", "1").stdout + wfe("executions", "show", "1", "--json").stdout
    assert json.loads(wfe("executions", "show", "1", "--json").stdout)["status"] == "succeeded"
    assert left_behind(ran.stdout + ran.stderr + shown, SECRET) == []
    assert "***" in ran.stdout


@pytest.mark.trio
async def test_a_secret_written_as_json_is_masked_too(
    db: store.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    quoted = 'pa"ss\\word\n2'
    monkeypatch.setenv("QUOTED", quoted)
    add(
        db,
        """
        name: json-leak
        secrets: [QUOTED]
        steps:
          - {id: a, log: "${{ toJSON(secrets.QUOTED) }}"}
          - {id: b, log: "${{ format('{0}!', toJSON(secrets.QUOTED)) }}"}
        """,
    )
    handle = await run(db, "json-leak", environ=dict(os.environ))
    assert handle.status == "succeeded"
    shown = everything_stored(db)
    assert 'pa\\"ss' not in shown and "ss\\\\word" not in shown
    assert next(line.text for line in store.log_lines(db, handle.id)) == '"***"'
