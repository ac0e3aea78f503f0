"""``wfe schema``: every workflow wfe accepts, the schema accepts; what it refuses, too."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from engine import definition
from engine.definition import loader
from engine.definition.schema import json_schema
from engine.errors import DefinitionError
from tests.support import EXAMPLES, REPO, Wfe

SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _test_workflows() -> list[tuple[str, str]]:
    """Every workflow written out in the tests (a string with name: and steps:) that wfe
    accepts, with where it is."""
    found = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = textwrap.dedent(node.value)
            if "name:" not in text or "steps:" not in text:
                continue
            try:
                definition.parse(text, "test.yaml")
            except (DefinitionError, Exception):
                continue  # a test of a refusal, or not a workflow
            found.append((f"{path.relative_to(REPO)}:{node.lineno}", text))
    return found


TEST_WORKFLOWS = _test_workflows()


def test_the_schema_is_valid_and_every_field_is_described() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    missing = []
    for name, model in [("Workflow", SCHEMA), *SCHEMA["$defs"].items()]:
        for key, prop in model.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"{name}.{key}")
    assert missing == []


def as_editors_read(text: str) -> object:
    """The document as a YAML 1.2 reader (an editor's language server) reads it: ``on:``
    is the key "on", as wfe reads it too (PyYAML's YAML 1.1 would make it true)."""
    return loader.read(text)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_valid(path: Path) -> None:
    VALIDATOR.validate(as_editors_read(path.read_text(encoding="utf-8")))


def test_every_workflow_the_tests_write_is_valid() -> None:
    assert len(TEST_WORKFLOWS) > 50  # the scan finds them
    wrong = [
        f"{where}: {error.message}"
        for where, text in TEST_WORKFLOWS
        for error in VALIDATOR.iter_errors(as_editors_read(text))
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"name": "w", "steps": [{"id": "a"}]}, "is not valid under any of the given schemas"),
        ({"name": "w", "steps": [{"id": "a", "log": "x", "run": "y"}]}, "is valid under each"),
        ({"name": "w", "steps": [{"id": "a", "log": "x", "colour": "red"}]}, "'colour' was unexpected"),
        ({"name": "w", "steps": []}, "should be non-empty"),
        ({"name": "w", "timeout": "soon", "steps": [{"id": "a", "log": "x"}]}, "is not valid under any"),
        ({"steps": [{"id": "a", "log": "x"}]}, "'name' is a required property"),
    ],
)  # fmt: skip
def test_what_wfe_refuses_the_schema_refuses(document: dict[str, Any], says: str) -> None:
    with pytest.raises(DefinitionError):
        definition.parse(yaml.safe_dump(document), "bad.yaml")
    errors = [e.message for e in VALIDATOR.iter_errors(document)]
    assert any(says in e for e in errors), errors


def test_wfe_schema_prints_it(wfe: Wfe) -> None:
    printed = wfe("schema")
    assert printed.exit_code == 0
    assert json.loads(printed.stdout) == SCHEMA
