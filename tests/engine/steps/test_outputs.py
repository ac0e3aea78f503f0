"""Named outputs: a shell step writes $WFE_OUTPUT as GitHub's $GITHUB_OUTPUT; later steps
read ${{ steps.ID.outputs.name }}; python and http steps' mappings read the same way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine import definition, store
from engine.errors import DefinitionError, StepError
from engine.steps import shell
from tests.support import add, logs_of, run

BACKENDS = ("sqlite", "postgresql")


def test_name_value_lines_and_heredocs_are_read_as_github_reads_them(tmp_path: Path) -> None:
    f = tmp_path / "out"
    f.write_text("size=3\nempty=\nurl=http://x/?a=b\r\nnotes<<EOF\nline one\n\nline=three\nEOF\n\n")
    assert shell.read_outputs(f) == {
        "size": "3",
        "empty": "",
        "url": "http://x/?a=b",
        "notes": "line one\n\nline=three",
    }
    assert shell.read_outputs(tmp_path / "gone") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("just words\n", "line 1: 'just words' is neither name=value nor name<<DELIMITER"),
        ("a=1\nbad name=2\n", "line 2: 'bad name=2'"),
        ("notes<<EOF\nnever closed\n", "notes<<EOF is never closed by a line EOF"),
    ],
)
def test_a_line_that_is_wrong_is_named(tmp_path: Path, text: str, says: str) -> None:
    f = tmp_path / "out"
    f.write_text(text)
    with pytest.raises(StepError, match="WFE_OUTPUT") as caught:
        shell.read_outputs(f)
    assert says in str(caught.value)


def test_more_than_a_mebibyte_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "out"
    f.write_bytes(b"a=" + b"x" * shell.MAX_OUTPUTS)
    with pytest.raises(StepError, match=r"wrote 1,048,578 bytes to \$WFE_OUTPUT; at most"):
        shell.read_outputs(f)


@pytest.mark.trio
async def test_later_steps_read_named_outputs_and_secrets_stay_masked(
    db: store.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN", "s3cret-value")
    add(
        db,
        """
        name: outs
        secrets: [TOKEN]
        steps:
          - id: build
            run: |
              echo "artifact=app-1.2.tar.gz" >> "$WFE_OUTPUT"
              printf 'notes<<END\\nfirst\\nsecond\\nEND\\n' >> "$WFE_OUTPUT"
              echo "leak=$TOKEN" >> "$WFE_OUTPUT"
              echo printed
          - {id: calc, needs: [build], python: "tests.callables:echo", with: {value: {n: 7}}}
          - id: use
            needs: [calc]
            log: "${{ steps.build.outputs.artifact }} ${{ steps.calc.outputs.n }} [${{ steps.build.outputs.missing }}]"
          - {id: lines, needs: [use], run: 'printf "%s|" "${{ steps.build.outputs.notes }}"'}
          - {id: secret, needs: [lines], log: "${{ steps.build.outputs.leak }}"}
        """,
    )
    handle = await run(db, "outs", environ=dict(os.environ))
    assert handle.status == "succeeded", handle
    runs = {r.step_id: r for r in store.step_runs(db, handle.id)}
    assert runs["build"].output == "printed"  # stdout stays the output
    assert runs["build"].outputs == {
        "artifact": "app-1.2.tar.gz",
        "notes": "first\nsecond",
        "leak": "***",  # masked where it is kept
    }
    assert runs["calc"].outputs == {"n": 7}
    logs = logs_of(db, handle.id)
    assert "app-1.2.tar.gz 7 []" in logs
    assert logs[logs.index("second|") - 1] == "first"  # a multi-line value, as data
    assert "s3cret-value" not in " ".join(logs)


@pytest.mark.trio
async def test_a_wrong_output_file_fails_the_step_with_its_line(db: store.Store) -> None:
    add(db, "name: bad\nsteps:\n  - {id: a, run: 'echo oops >> \"$WFE_OUTPUT\"'}\n")
    handle = await run(db, "bad")
    (a,) = store.step_runs(db, handle.id)
    assert a.status == "failed"
    assert a.error is not None and "$WFE_OUTPUT line 1: 'oops' is neither" in a.error


def test_only_steps_that_have_named_outputs_may_be_read_so() -> None:
    with pytest.raises(DefinitionError) as caught:
        definition.parse(
            "name: w\nsteps:\n  - {id: note, log: x}\n"
            "  - {id: b, log: '${{ steps.note.outputs.x }}'}\n",
            "w.yaml",
        )
    assert str(caught.value) == (
        "w.yaml:4: steps[b].log: steps.note.outputs.x: a log step has no named outputs"
        " (run, python, http, email and workflow do)"
    )
