"""Hostile files are refused quickly, with their line, never with a traceback or a hang.

Each is validated by a real ``wfe validate`` with its memory capped at 1 GB and a
timeout: a file that blew up memory or time fails the test instead of the machine.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from engine import definition, store
from engine.definition import expressions
from engine.errors import DefinitionError
from tests.support import REPO, add, run


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        preexec_fn=cap_memory,
    )


def laughs(where: str) -> str:
    """A billion laughs: nine levels of nine aliases each, under ``where``."""
    lines = ['    a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"    {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
        previous = name
    body = "\n".join(lines)
    if where == "params":
        return f"name: bomb\nparams:\n  lol:\n{body}\nsteps:\n  - {{id: a, log: x}}\n"
    return f"name: bomb\nsteps:\n  - id: a\n    python: tests.callables:echo\n    with:\n      value:\n{body.replace('    ', '        ')}\n"


@pytest.mark.parametrize("where", ["params", "with"])
def test_a_billion_laughs_is_refused(tmp_path: Path, where: str) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(laughs(where))
    proc = validate(path)
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith(
        "the file holds more than 1,000,000 values once its aliases (*name) are expanded"
    )
    assert proc.stderr.startswith(f"{path}:") and "Traceback" not in proc.stderr


def test_a_few_aliases_are_fine() -> None:
    wf = definition.parse(
        "name: a\nenv: &common {A: '1'}\nsteps:\n  - id: s\n    env: *common\n    run: 'true'\n"
    )
    assert wf.steps[0].env == {"A": "1"}


def test_a_file_past_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    step = "  - {id: s%d, log: x}\n"
    with path.open("w") as f:
        f.write("name: huge\nsteps:\n")
        i = 0
        while f.tell() < 9 * 1024 * 1024:
            f.write(step % i)
            i += 1
    proc = validate(path)
    assert proc.returncode == 1
    assert "bytes; a workflow file has at most 8,388,608" in proc.stderr


def test_too_many_steps_are_refused_before_they_are_validated() -> None:
    text = "name: many\nsteps:\n" + "".join(f"  - {{id: s{i}, log: x}}\n" for i in range(20_001))
    with pytest.raises(
        DefinitionError, match=r"^<workflow>:2: steps: 20,001 steps; a workflow has at most 20,000$"
    ):
        definition.parse(text)


def test_an_integer_of_5000_digits_is_refused_at_its_line() -> None:
    text = "name: big\nparams:\n  n: " + "9" * 5000 + "\nsteps:\n  - {id: a, log: x}\n"
    with pytest.raises(DefinitionError, match=r"^<workflow>:3: an integer of 5,000 digits"):
        definition.parse(text)


def test_nesting_past_the_limit_is_refused() -> None:
    deep = "name: deep\nparams:\n  a: " + "[" * 100 + "]" * 100 + "\nsteps:\n  - {id: a, log: x}\n"
    with pytest.raises(
        DefinitionError, match=r"^<workflow>:3: (malformed YAML|mappings and lists nest)"
    ):
        definition.parse(deep)
    ok = "name: deep\nparams:\n  a: " + "[" * 40 + "]" * 40 + "\nsteps:\n  - {id: a, log: x}\n"
    assert definition.parse(ok).params["a"]


def test_a_long_cycle_is_found_without_recursion_and_said_briefly() -> None:
    n = 5000
    steps = "".join(f"  - {{id: c{i}, needs: [c{(i + 1) % n}], log: x}}\n" for i in range(n))
    with pytest.raises(DefinitionError) as caught:
        definition.parse(f"name: cycle\nsteps:\n{steps}")
    assert str(caught.value) == (
        "<workflow>:3: steps[c0].needs: dependency cycle:"
        " c0 -> c1 -> c2 -> c3 -> c4 -> c5 -> (4992 more) -> c4998 -> c4999 -> c0"
    )


@pytest.mark.trio
async def test_a_1000_step_chain_written_in_reverse_order_validates_and_runs(
    db: store.Store,
) -> None:
    n = 1000
    steps = (
        "".join(f"  - {{id: s{i}, needs: [s{i + 1}], log: 'step {i}'}}\n" for i in range(n - 1))
        + f"  - {{id: s{n - 1}, needs: [], log: 'first'}}\n"
    )
    add(db, f"name: reversed\nsteps:\n{steps}")
    handle = await run(db, "reversed")
    assert handle.status == "succeeded"
    lines = store.log_lines(db, handle.id, limit=n)
    assert [line.text for line in lines][:2] == ["first", "step 998"]


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("(" * 2000 + "true" + ")" * 2000, "has 4,001 parts; at most 1,000"),
        (" || ".join(["true"] * 5000), "has 9,999 parts; at most 1,000"),
        ("!" * 5000 + "true", "has 5,001 parts; at most 1,000"),
        ("(" * 40 + "true" + ")" * 40, "parentheses nest more than 32 deep"),
    ],
    ids=["deep", "long", "nots", "nested"],
)
def test_expressions_past_the_limits_are_refused_with_their_line(
    expression: str, says: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        definition.parse(f'name: e\nsteps:\n  - id: a\n    log: "${{{{ {expression} }}}}"\n')
    message = str(caught.value)
    assert message.startswith("<workflow>:4: steps[a].log: ") and says in message
    assert len(message) < 300  # it quotes the start of the expression, not all of it


def test_expressions_within_the_limits_parse_and_evaluate_without_recursion() -> None:
    chain = expressions.parse(" || ".join(["false"] * 499 + ["true"]))
    assert expressions.evaluate(chain, {}) is True
    assert (
        expressions.evaluate(expressions.parse(" && ".join(["true"] * 499 + ["false"])), {})
        is False
    )
    assert expressions.evaluate(expressions.parse("!" * 999 + "true"), {}) is False
    assert expressions.evaluate(expressions.parse("!" * 998 + "true"), {}) is True
    nested = expressions.parse("(" * 32 + "1 == 1" + ")" * 32)
    assert expressions.evaluate(nested, {}) is True
    assert list(
        expressions.refs(expressions.parse(" || ".join(f"params.p{i}" for i in range(200))))
    ) == [expressions.Ref(("params", f"p{i}")) for i in range(200)]
