"""The ``--json`` output of every command that has one, pinned as golden files.

What ``--json`` prints is a contract with scripts: a change to it shows here as a diff of
``tests/engine/cli/golden/*.json``. Values that differ between runs (times, durations,
paths, sizes) are replaced by placeholders; everything else is compared exactly.
Regenerate on purpose with ``WFE_UPDATE_GOLDEN=1 pytest tests/engine/cli/test_json.py``.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio
from click.testing import CliRunner

from engine import cli, definition, runtime, store

GOLDEN = Path(__file__).parent / "golden"
VOLATILE_NUMBERS = {
    "duration_ms",
    "average_duration_ms",
    "size_bytes",
    "free_disk_bytes",
    "process_rss_bytes",
    "pid",
}

WORKFLOW = """\
name: golden
description: Pinned by the JSON contract tests
params: {who: world}
schedule: "0 2 * * *"
steps:
  - id: hello
    log: "hello ${{ params.who }}"
  - id: shout
    run: echo LOUD
  - id: broken
    run: "echo oops >&2; exit 3"
    continue_on_error: true
"""


def _placeholders(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _placeholders(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v, key) for v in value]
    if value is None:
        return None
    if key is not None and (key.endswith("_at") or key == "time"):
        # ISO 8601 with the UTC offset, which any JSON reader can parse back
        assert datetime.fromisoformat(value).utcoffset() == timedelta(0), (key, value)
        return "<time>"
    if key in VOLATILE_NUMBERS:
        return "<number>"
    if key in ("url", "source_path", "host", "worker"):
        return f"<{key}>"
    return value


@pytest.fixture
def wfe(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'golden.db'}"
    db = store.open_store(url)
    wf = definition.parse(WORKFLOW, "golden.yaml")
    store.save_workflows(db, [(wf, str(tmp_path / "golden.yaml"))])

    async def run_one() -> None:
        async with runtime.open_executor(db, environ={"PATH": os.environ["PATH"]}) as ex:
            await ex.run("golden", {"who": "json"})

    trio.run(run_one)
    row = store.get_workflow(db, "golden")
    waiting = store.create_execution(db, row, {"who": "later"})
    store.request_approval(db, waiting.id or 0, "gate", "golden", "Ship it?")
    db.close()
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        result = runner.invoke(cli.main, ["--db", url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return invoke


COMMANDS = {
    "workflow_list": ("workflow", "list", "--json"),
    "workflow_show": ("workflow", "show", "golden", "--json"),
    "executions_list": ("executions", "list", "--json"),
    "executions_show": ("executions", "show", "1", "--json"),
    "approvals": ("approvals", "--json"),
    "stats": ("stats", "--json"),
    "health": ("health", "--json"),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_json_output_is_the_documented_contract(wfe, name: str) -> None:
    got = _placeholders(wfe(*COMMANDS[name]))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("WFE_UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text())
