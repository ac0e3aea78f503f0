"""``${{ … }}`` expressions: a tiny language that reads values and evaluates no code.

An expression reads ``params.X``, ``env.X``, ``secrets.X``, ``steps.ID.output`` (and
fields inside it: ``steps.ID.output.size`` or ``steps.ID.output["a b"]``),
``steps.ID.status`` and ``execution.id``. It may compare values (``== != < <= > >=``),
combine them with ``and``/``or``/``not`` (or ``&&``/``||``/``!``) and use literals:
strings in single or double quotes, numbers, ``true``, ``false``, ``null``.

Expressions are parsed once, when the workflow file is loaded, into a small tree; a
template (a string with ``${{ … }}`` parts) is parsed into literal and expression parts.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import ExpressionError

ROOTS = ("params", "env", "secrets", "steps", "execution")

# ---------------------------------------------------------------------------
# The tree
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Ref:
    """A path such as ``steps.build.output.size``: the root and then keys."""

    path: tuple[str | int, ...]

    def __str__(self) -> str:
        out = str(self.path[0])
        for part in self.path[1:]:
            if isinstance(part, int):
                out += f"[{part}]"
            elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
                out += f".{part}"
            else:
                out += f"[{json.dumps(part)}]"
        return out


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Node, ...]  # a chain of them is one node, however long: no deep tree


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node


Node = Literal | Ref | Not | BoolOp | Compare


# ---------------------------------------------------------------------------
# Tokens and parser
# ---------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!().\[\]])
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    """,
    re.VERBOSE,
)

_KEYWORDS = {"true": True, "false": False, "null": None}
MAX_TOKENS = 1000  # in one expression
MAX_NESTING = 32  # parentheses within each other
_WORD_OPS = {"and": "and", "or": "or", "not": "not", "&&": "and", "||": "or", "!": "not"}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            where = f"at position {pos + 1} in {_shown(text)}"
            raise ExpressionError(f"unexpected {text[pos]!r} {where}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, m.group()))
    return tokens


def _shown(text: str) -> str:
    """An expression as an error message quotes it: whole, or its start."""
    return repr(text) if len(text) <= 80 else repr(text[:77] + "...")


class _Parser:
    """Recursive descent, recursing only into parentheses (at most MAX_NESTING deep)."""

    def __init__(self, text: str) -> None:
        self.text = _shown(text)
        self.tokens = _tokenize(text)
        if len(self.tokens) > MAX_TOKENS:
            raise ExpressionError(
                f"the expression {self.text} has {len(self.tokens):,} parts; at most"
                f" {MAX_TOKENS:,} (compute long conditions in a step and read its output)"
            )
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ExpressionError(f"unexpected end of expression {self.text}")
        self.i += 1
        return tok

    def at_word(self, *words: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok[0] in ("name", "op") and _WORD_OPS.get(tok[1]) in words:
            return _WORD_OPS[tok[1]]
        return None

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("the expression is empty")
        node = self.or_()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in {self.text}")  # type: ignore[index]
        return node

    def or_(self) -> Node:
        operands = [self.and_()]
        while self.at_word("or"):
            self.take()
            operands.append(self.and_())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def and_(self) -> Node:
        operands = [self.not_()]
        while self.at_word("and"):
            self.take()
            operands.append(self.not_())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def not_(self) -> Node:
        nots = 0
        while self.at_word("not"):
            self.take()
            nots += 1
        node = self.compare()
        if nots % 2:
            return Not(node)
        return Not(Not(node)) if nots else node  # !!x is x's truth, as a boolean

    def compare(self) -> Node:
        left = self.primary()
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            return Compare(tok[1], left, self.primary())
        return left

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Literal(json.loads(text))
        if kind == "str":
            body = text[1:-1]
            return Literal(re.sub(r"\\(.)", r"\1", body))
        if kind == "op" and text == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise ExpressionError(
                    f"parentheses nest more than {MAX_NESTING} deep in {self.text}"
                )
            node = self.or_()
            if self.take() != ("op", ")"):
                raise ExpressionError(f"missing ')' in {self.text}")
            self.depth -= 1
            return node
        if kind == "name":
            if text in _KEYWORDS:
                return Literal(_KEYWORDS[text])
            return self.ref(text)
        raise ExpressionError(f"unexpected {text!r} in {self.text}")

    def ref(self, root: str) -> Ref:
        if root not in ROOTS:
            raise ExpressionError(
                f"unknown name {root!r} in {self.text}; expressions read only " + ", ".join(ROOTS)
            )
        path: list[str | int] = [root]
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in (".", "["):
            self.take()
            if tok[1] == ".":
                kind, text = self.take()
                if kind != "name" and kind != "num":
                    raise ExpressionError(f"expected a name after '.' in {self.text}")
                path.append(text)
            else:
                kind, text = self.take()
                if kind == "str":
                    path.append(text[1:-1])
                elif kind == "num" and text.isdigit():
                    path.append(int(text))
                else:
                    raise ExpressionError(f"expected a string or an index in [] in {self.text}")
                if self.take() != ("op", "]"):
                    raise ExpressionError(f"missing ']' in {self.text}")
        return Ref(tuple(path))


def parse(text: str) -> Node:
    """Parse the inside of ``${{ … }}``."""
    return _Parser(text).parse()


def refs(node: Node) -> Iterator[Ref]:
    """Every reference in a tree, in order, for validation."""
    stack: list[Node] = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, Ref):
            yield node
        elif isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, BoolOp):
            stack.extend(reversed(node.operands))
        elif isinstance(node, Compare):
            stack.extend((node.right, node.left))


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


def truthy(value: Any) -> bool:
    """GitHub-Actions-like truth: empty strings, 0, null, false, "false" are false."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "off", "null")
    return bool(value)


def evaluate(node: Node, context: Mapping[str, Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Ref):
        value: Any = context
        for i, part in enumerate(node.path):
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError) as exc:
                if i >= 3 and node.path[0] == "steps":
                    return None  # a field missing from a step's output reads as null
                raise ExpressionError(f"{node} is not defined") from exc
        return value
    if isinstance(node, Not):
        return not truthy(evaluate(node.operand, context))
    if isinstance(node, BoolOp):
        want = node.op == "or"  # or: the first true operand decides; and: the first false
        for operand in node.operands:
            if truthy(evaluate(operand, context)) == want:
                return want
        return not want
    left, right = evaluate(node.left, context), evaluate(node.right, context)
    if node.op == "==":
        return _loose(left) == _loose(right)
    if node.op == "!=":
        return _loose(left) != _loose(right)
    try:
        a, b = _ordered(left), _ordered(right)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[node.op]
    except TypeError as exc:
        raise ExpressionError(f"cannot compare {left!r} {node.op} {right!r}") from exc


def _loose(value: Any) -> Any:
    # "3" == 3 is true, as a parameter given on the command line is a string.
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else value
        except ValueError:
            return value
    return value


def _ordered(value: Any) -> Any:
    value = _loose(value)
    if isinstance(value, bool) or value is None:
        raise TypeError
    return value


# ---------------------------------------------------------------------------
# Templates: strings with ${{ … }} parts
# ---------------------------------------------------------------------------

_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


@dataclass(frozen=True)
class Template:
    """A string split into literal text and expressions, parsed once."""

    parts: tuple[str | Node, ...]

    @property
    def is_single(self) -> bool:
        """True when the whole string is one expression: it renders to a typed value."""
        return len(self.parts) == 1 and not isinstance(self.parts[0], str)

    @property
    def is_constant(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def nodes(self) -> Iterator[Node]:
        for part in self.parts:
            if not isinstance(part, str):
                yield part

    def render(self, context: Mapping[str, Any]) -> Any:
        parts = self.parts
        if len(parts) == 1:
            part = parts[0]
            return part if isinstance(part, str) else evaluate(part, context)
        return "".join(
            part if isinstance(part, str) else to_text(evaluate(part, context))
            for part in self.parts
        )


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


@functools.lru_cache(maxsize=4096)
def template(text: str) -> Template:
    parts: list[str | Node] = []
    pos = 0
    for m in _EXPR.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        parts.append(parse(m.group(1)))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    if "${{" in "".join(p for p in parts if isinstance(p, str)):
        raise ExpressionError(f"unclosed '${{{{' in {text!r}")
    return Template(tuple(parts) or ("",))


@functools.lru_cache(maxsize=1024)
def condition(text: str) -> Node:
    """An ``if:`` value: ``${{ expr }}`` or a bare expression."""
    stripped = text.strip()
    m = _EXPR.fullmatch(stripped)
    return parse(m.group(1) if m else stripped)
