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
        ("params.n > 5 or not params.flag", False),  # "false" is a truthy string
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
        ("__import__('os')", r"^unknown function __import__\(\)"),
        ("os.system", r"^unknown name 'os'"),
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


# GitHub Actions' expression semantics, case by case as its documentation gives them
# (docs.github.com/actions/reference/evaluate-expressions-in-workflows-and-actions).
GH = {
    "params": {"a": 3, "zero": 0, "s": "Hello", "empty": "", "list": ["Bug", "docs"],
               "obj": {"Name": "x"}, "flag": "false"},
    "steps": {
        "one": {"output": {"name": "web-1", "n": 1}, "status": "succeeded"},
        "two": {"output": {"name": "web-2"}, "status": "failed"},
    },
}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # && and || give back an operand, not a boolean
        ("params.a > 2 && 'yes' || 'no'", "yes"),
        ("params.a > 5 && 'yes' || 'no'", "no"),
        ("0 || 0 || 2 || 3", 2),
        ("0 || null", None),
        ("'a' && 0", 0),
        ("params.empty || 'default'", "default"),
        # literals as GitHub reads them
        ("0xff", 255),
        ("-2.99e-2", -0.0299),
        ("'It''s open source!'", "It's open source!"),
        ("null", None),
        # == and the comparisons coerce as GitHub does
        ("'3' == 3", True),
        ("null == 0", True),
        ("true == 1", True),
        ("'' == 0", True),
        ("'abc' == 0", False),  # NaN
        ("'ABC' == 'abc'", True),  # strings ignore case
        ("'b' > 'A'", True),
        ("'x' < 1 || 'x' >= 1", False),  # NaN: every comparison false
        ("params.list == params.list", True),  # the same array
        ("fromJSON('[1]') == fromJSON('[1]')", False),  # two arrays: never equal
        ("!params.empty", True),
        ("!params.flag", False),  # the string "false" is truthy, as in GitHub
        # indexing and the object filter
        ("params.list[0]", "Bug"),
        ("params.list[params.zero]", "Bug"),
        ("params.obj['name']", "x"),  # property names ignore case
        ("steps.*.output.name", ["web-1", "web-2"]),
        ("steps.*.output.n", [1]),  # an item without it is left out
        ("contains(steps.*.status, 'FAILED')", True),
        # functions
        ("contains(params.list, 'bug')", True),
        ("contains('Hello world', 'WORLD')", True),
        ("contains(params.list, 'x')", False),
        ("startsWith(params.s, 'he')", True),
        ("endsWith(params.s, 'LO')", True),
        ("format('{0} is {1}, {{literal}}', params.s, params.a)", "Hello is 3, {literal}"),
        ("join(params.list, ', ')", "Bug, docs"),
        ("join(params.list)", "Bug,docs"),
        ("toJSON(params.list)", '[\n  "Bug",\n  "docs"\n]'),
        ("fromJSON('{\"a\": [1, 2]}').a[1]", 2),
        ("case(params.a == 1, 'one', params.a == 3, 'three', 'other')", "three"),
        ("case(false, 'a', 'fallback')", "fallback"),
    ],
)
def test_github_semantics(text: str, expected: object) -> None:
    assert ex.evaluate(ex.parse(text), GH) == expected


@pytest.mark.parametrize(
    ("value", "truth"),
    [(False, False), (0, False), (-0.0, False), ("", False), (None, False),
     (float("nan"), False), ("false", True), ("0", True), ([], True), ({}, True), (2, True)],
)  # fmt: skip
def test_truth_is_github_s(value: object, truth: bool) -> None:
    assert ex.truthy(value) is truth


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("contains('a')", r"^contains\(\) takes 2 arguments, not 1"),
        ("format()", r"^format\(\) takes 1 or more arguments, not 0"),
        ("join(1, 2, 3)", r"^join\(\) takes 1 or 2 arguments, not 3"),
        ("case(true, 1)", r"^case\(\) takes 3 or more arguments, not 2"),
        ("case(true, 1, false, 2)", r"^case\(\) takes pairs of a condition and a value"),
        ("hashFiles('x')", r"^unknown function hashFiles\(\)"),
        ("success(1)", r"^success\(\) takes 0 arguments, not 1"),
    ],
)
def test_functions_are_checked_when_parsed(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        ex.parse(text)


def test_status_functions_only_in_if_and_text_as_github_writes_it() -> None:
    with pytest.raises(ExpressionError, match=r"^failure\(\) can be used only in if:"):
        ex.template("ran: ${{ failure() }}")
    assert ex.template("${{ null }}|${{ 3.0 }}|${{ 1.5 }}|${{ true }}").render(GH) == "|3|1.5|true"
    assert ex.template("a ${{ params.list }}").render(GH) == 'a ["Bug", "docs"]'
    status = {ex.STATUS: {"failed": True, "cancelled": False}}
    assert ex.evaluate(ex.condition("failure() && 'x'"), status) == "x"
    assert ex.evaluate(ex.condition("success()"), status) is False
    assert ex.evaluate(ex.condition("always()"), status) is True


def test_a_format_with_a_missing_value_says_which() -> None:
    with pytest.raises(ExpressionError, match=r"format\(\): \{2\} in '\{0\} \{2\}', but only 1"):
        ex.evaluate(ex.parse("format('{0} {2}', 1)"), GH)


def test_what_review_found_reads_as_github_does() -> None:
    ctx = {"steps": {"a": {"output": [{"name": "n", "tags": ["x", "y"]}], "status": "ok"}}}
    assert ex.evaluate(ex.parse("steps.a.output.0.name"), ctx) == "n"  # .0 is a key
    assert ex.evaluate(ex.parse("steps.a.output.*.tags.*"), ctx) == ["x", "y"]  # flattened
    assert ex.template("${{ format('{{Hello {0}!}}', 'x') }}").render({}) == "{Hello x!}"
    assert ex.evaluate(ex.condition("${{ 'a}}b' == 'A}}B' }}"), {}) is True
    assert ex.evaluate(ex.parse("contains(fromJSON('{\"x\": 1}'), 'x')"), {}) is False
    assert ex.evaluate(ex.parse("'a' < '_'"), {}) is True  # upper-cased, as GitHub: 'A' < '_'
    assert ex.evaluate(ex.parse("'A' < 'b'"), {}) is True
    big = {"params": {"n": 10**400}}
    assert ex.evaluate(ex.parse("params.n > 1 && 'yes'"), big) == "yes"  # no overflow
    with pytest.raises(ExpressionError, match="nests too deep"):
        ex.evaluate(ex.parse("fromJSON(params.s)"), {"params": {"s": "[" * 100_000}})
    with pytest.raises(ExpressionError, match=r"case\(\): condition 1 is 'yes'"):
        ex.evaluate(ex.parse("case('yes', 1, 2)"), {})
