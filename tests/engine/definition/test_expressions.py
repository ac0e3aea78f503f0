from __future__ import annotations

import pytest

from engine.definition import expressions as ex
from engine.errors import ExpressionError

CTX = {
    "params": {"n": 3, "name": "web", "flag": "false", "text": "a b"},
    "env": {"HOME": "/root"},
    "secrets": {"TOKEN": "s3cret"},
    "steps": {
        "build": {"output": {"size": 10, "files": ["a", "b"], "a b": 1}, "status": "succeeded"}
    },
    "execution": {"id": 7},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.n", 3),
        ("params.n == 3", True),
        ("params.n == '3'", True),
        ("params.n > 2 and params.name == 'web'", True),
        ("params.n > 5 or not params.flag", True),
        ("!(params.n >= 3) || false", False),
        ("steps.build.output.size", 10),
        ("steps.build.output.files[1]", "b"),
        ('steps.build.output["a b"]', 1),
        ("steps.build.output.missing", None),
        ("steps.build.status != 'failed'", True),
        ("execution.id", 7),
        ("null == null", True),
        ("1.5 < 2", True),
        ('"it\\"s"', 'it"s'),
    ],
)
def test_evaluate_expression_values(text: str, expected: object) -> None:
    assert ex.evaluate(ex.parse(text), CTX) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", r"^unknown name '__import__'"),
        ("params.n +", r"^unexpected '\+'"),
        ("params.n ==", r"^unexpected end of expression"),
        ("(params.n", r"^unexpected end of expression|^missing '\)'"),
        ("", r"^the expression is empty$"),
        ("params.n; rm", r"^unexpected ';'"),
    ],
)
def test_parse_expression_refuses_bad_syntax(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        ex.parse(text)


def test_evaluate_unknown_reference_names_it() -> None:
    with pytest.raises(ExpressionError, match=r"^params.nope is not defined$"):
        ex.evaluate(ex.parse("params.nope"), CTX)


def test_template_single_expression_keeps_type() -> None:
    assert ex.template("${{ steps.build.output }}").render(CTX) == CTX["steps"]["build"]["output"]  # type: ignore[index]
    assert ex.template("n=${{ params.n }} ok=${{ params.n == 3 }}").render(CTX) == "n=3 ok=true"


def test_template_unclosed_is_an_error() -> None:
    with pytest.raises(ExpressionError, match="unclosed"):
        ex.template("x ${{ params.n")


def test_condition_accepts_bare_and_wrapped() -> None:
    assert ex.evaluate(ex.condition("${{ params.n == 3 }}"), CTX) is True
    assert ex.evaluate(ex.condition("params.n == 4"), CTX) is False


@pytest.mark.parametrize(
    ("value", "truth"),
    [
        ("false", False),
        ("0", False),
        ("", False),
        ("yes", True),
        (0, False),
        ([], False),
        ({"a": 1}, True),
    ],
)
def test_truthy_treats_false_strings_as_false(value: object, truth: bool) -> None:
    assert ex.truthy(value) is truth
