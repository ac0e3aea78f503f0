"""``${{ … }}`` expressions: GitHub Actions' expression language, evaluating no code.

What a user who knows GitHub's expressions expects holds here
(https://docs.github.com/actions/reference/evaluate-expressions-in-workflows-and-actions):

* Literals: ``null``, ``true``, ``false``, numbers as JSON writes them and hex (``0xff``),
  strings in single quotes with ``''`` for a quote (``'It''s'``).
* Operators, tightest first: ``( )``, ``[ ]`` and ``.`` (with ``.*``, the object filter),
  ``!``, ``< <= > >=``, ``== !=``, ``&&``, ``||``. ``&&`` and ``||`` give back an operand,
  not a boolean: ``${{ params.n > 2 && 'big' || 'small' }}`` is ``big`` or ``small``.
* Comparisons coerce as GitHub does: values of different types are compared as numbers
  (null is 0, true 1, a string its number or NaN, an array or object NaN); strings are
  compared ignoring case; NaN is equal to nothing, not even NaN; arrays and objects are
  equal only to themselves.
* Falsy: ``false``, ``0``, ``-0``, ``""``, ``null``, ``NaN``; everything else is truthy.
* Functions: ``contains``, ``startsWith``, ``endsWith``, ``format``, ``join``, ``toJSON``,
  ``fromJSON``, ``case``; in ``if:`` the status functions ``success()``, ``failure()``,
  ``cancelled()`` and ``always()``.
* In text, null is the empty string, numbers are written as JavaScript writes them
  (``3``, not ``3.0``), and arrays and objects as JSON (GitHub writes ``Array``/``Object``).

Where we differ on purpose (the README lists it): the contexts are ours (``params``,
``env``, ``secrets``, ``steps``, ``execution``); an empty ``${{ }}`` is an
error; double-quoted strings (with backslash escapes) and ``and``/``or``/``not`` are
accepted too; a name that is not a context, a function, an unknown function or one
with the wrong number of arguments is refused when the file is added.

Expressions are parsed once, when the workflow file is loaded, into a small tree; a
template (a string with ``${{ … }}`` parts) into literal and expression parts. Nothing
is ever evaluated as code.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import ExpressionError

ROOTS = ("params", "env", "secrets", "steps", "execution", "item")
STATUS = "__status__"  # the context key for success()/failure()/cancelled() (if: only)

# ---------------------------------------------------------------------------
# The tree
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Ref:
    """A path such as ``steps.build.output.size``: the root and then keys.

    ``partial``: the path is followed by ``.*`` or an index computed at run time, so it
    need not name a whole value (``steps.*.status`` reads ``steps``).
    """

    path: tuple[str | int, ...]
    partial: bool = False

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
class Index:
    """``base[key]`` with a key computed at run time, or ``base.name`` after a filter."""

    base: Node
    key: Node


@dataclass(frozen=True)
class Star:
    """``base.*``: the values of an object, or the items of an array, as a filter."""

    base: Node


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


@dataclass(frozen=True)
class Call:
    name: str  # as the table below spells it
    args: tuple[Node, ...]


Node = Literal | Ref | Index | Star | Not | BoolOp | Compare | Call

# Each function: its name as written (matched in any case, as GitHub does) and how many
# arguments it takes, at least and at most (None: any number).
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "contains": (2, 2),
    "startsWith": (2, 2),
    "endsWith": (2, 2),
    "format": (1, None),
    "join": (1, 2),
    "toJSON": (1, 1),
    "fromJSON": (1, 1),
    "case": (3, None),
    "success": (0, 0),
    "failure": (0, 0),
    "cancelled": (0, 0),
    "always": (0, 0),
}
STATUS_FUNCTIONS = ("success", "failure", "cancelled", "always")
_BY_LOWER = {name.lower(): name for name in FUNCTIONS}

# ---------------------------------------------------------------------------
# Tokens and parser
# ---------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>0[xX][0-9a-fA-F]+|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!().\[\],*])
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    """,
    re.VERBOSE,
)

_KEYWORDS = {"true": True, "false": False, "null": None}
MAX_TOKENS = 1000  # in one expression
MAX_NESTING = 32  # parentheses (or calls, or brackets) within each other
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


def _number(text: str) -> int | float:
    if text[:2].lower() == "0x":
        return int(text, 16)
    value = float(text)
    return int(value) if value.is_integer() and not re.search(r"[.eE]", text) else value


class _Parser:
    """Recursive descent, recursing only into brackets (at most MAX_NESTING deep)."""

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

    def at_op(self, *ops: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in ops:
            return tok[1]
        return None

    def at_word(self, *words: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok[0] in ("name", "op") and _WORD_OPS.get(tok[1]) in words:
            return _WORD_OPS[tok[1]]
        return None

    def nest(self, what: str = "parentheses") -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError(f"{what} nest more than {MAX_NESTING} deep in {self.text}")

    def expect(self, op: str) -> None:
        if self.peek() != ("op", op):
            raise ExpressionError(f"missing {op!r} in {self.text}")
        self.take()

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
        operands = [self.equality()]
        while self.at_word("and"):
            self.take()
            operands.append(self.equality())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def equality(self) -> Node:
        node = self.relation()
        while (op := self.at_op("==", "!=")) is not None:
            self.take()
            node = Compare(op, node, self.relation())
        return node

    def relation(self) -> Node:
        node = self.not_()
        while (op := self.at_op("<", "<=", ">", ">=")) is not None:
            self.take()
            node = Compare(op, node, self.not_())
        return node

    def not_(self) -> Node:
        nots = 0
        while self.at_word("not"):
            self.take()
            nots += 1
        node = self.postfix()
        if nots % 2:
            return Not(node)
        return Not(Not(node)) if nots else node  # !!x is x's truth, as a boolean

    def postfix(self) -> Node:
        node = self.primary()
        while (op := self.at_op(".", "[")) is not None:
            self.take()
            if op == ".":
                if self.at_op("*"):
                    self.take()
                    node = Star(_partial(node))
                    continue
                kind, text = self.take()
                if kind not in ("name", "num"):
                    raise ExpressionError(f"expected a name after '.' in {self.text}")
                node = self.step(node, text, Literal(text))
            else:
                self.nest("brackets")
                key = self.or_()
                self.expect("]")
                self.depth -= 1
                fixed = key.value if isinstance(key, Literal) else None
                if isinstance(fixed, bool) or not isinstance(fixed, str | int):
                    node = Index(_partial(node), key)
                else:
                    node = self.step(node, fixed, key)
        return node

    @staticmethod
    def step(node: Node, part: str | int, key: Node) -> Node:
        """``node`` then one key known now: a longer path where ``node`` is one."""
        if isinstance(node, Ref) and not node.partial:
            return Ref((*node.path, part))
        return Index(_partial(node), key)

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Literal(_number(text))
        if kind == "str":
            if text[0] == "'":
                return Literal(text[1:-1].replace("''", "'"))
            return Literal(re.sub(r"\\(.)", r"\1", text[1:-1]))
        if kind == "op" and text == "(":
            self.nest()
            node = self.or_()
            self.expect(")")
            self.depth -= 1
            return node
        if kind == "name":
            if self.at_op("("):
                return self.call(text)
            if text in _KEYWORDS:
                return Literal(_KEYWORDS[text])
            return self.root(text)
        raise ExpressionError(f"unexpected {text!r} in {self.text}")

    def call(self, written: str) -> Call:
        name = _BY_LOWER.get(written.lower())
        if name is None:
            raise ExpressionError(
                f"unknown function {written}() in {self.text}; the functions are "
                + ", ".join(f"{f}()" for f in FUNCTIONS)
            )
        self.take()  # (
        self.nest("calls")
        args: list[Node] = []
        if not self.at_op(")"):
            args.append(self.or_())
            while self.at_op(","):
                self.take()
                args.append(self.or_())
        self.expect(")")
        self.depth -= 1
        least, most = FUNCTIONS[name]
        if len(args) < least or (most is not None and len(args) > most):
            wanted = (
                f"{least}"
                if least == most
                else f"{least} or more"
                if most is None
                else f"{least} or {most}"
            )
            raise ExpressionError(
                f"{name}() takes {wanted} argument{'s' if wanted != '1' else ''},"
                f" not {len(args)}, in {self.text}"
            )
        if name == "case" and len(args) % 2 == 0:
            raise ExpressionError(
                f"case() takes pairs of a condition and a value, then a default: an odd"
                f" number of arguments, not {len(args)}, in {self.text}"
            )
        return Call(name, tuple(args))

    def root(self, name: str) -> Ref:
        if name not in ROOTS:
            raise ExpressionError(
                f"unknown name {name!r} in {self.text}; expressions read "
                + ", ".join(ROOTS)
                + " and call functions"
            )
        return Ref((name,))


def _partial(node: Node) -> Node:
    """A path used as the base of a filter or a computed index reads as far as it goes."""
    return Ref(node.path, partial=True) if isinstance(node, Ref) else node


def parse(text: str) -> Node:
    """Parse the inside of ``${{ … }}``."""
    return _Parser(text).parse()


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Index):
        return (node.base, node.key)
    if isinstance(node, Star):
        return (node.base,)
    if isinstance(node, Not):
        return (node.operand,)
    if isinstance(node, BoolOp):
        return node.operands
    if isinstance(node, Compare):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Every node of a tree, in order (without recursion)."""
    stack: list[Node] = [node]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def refs(node: Node) -> Iterator[Ref]:
    """Every reference in a tree, in order, for validation."""
    for n in walk(node):
        if isinstance(n, Ref):
            yield n


def status_calls(node: Node) -> list[str]:
    """The status functions a tree calls (success(), failure(), …)."""
    return [n.name for n in walk(node) if isinstance(n, Call) and n.name in STATUS_FUNCTIONS]


# ---------------------------------------------------------------------------
# Values: truth, numbers, text, equality, as GitHub has them
# ---------------------------------------------------------------------------


class _Filtered(list[Any]):
    """What ``.*`` gives: a property read on it reads each item's (GitHub's filter)."""


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")


def truthy(value: Any) -> bool:
    """GitHub's truth: false, 0, -0, "", null and NaN are false; all else is true."""
    if value is None or value is False:
        return False
    if isinstance(value, int) and not isinstance(value, bool):
        return value != 0  # any size: a float() of a 400-digit number overflows
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def to_number(value: Any) -> float:
    """A value as GitHub compares it with one of another type."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an integer past a float's range
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        if _JSON_NUMBER.fullmatch(text):
            return float(text)  # a long one reads as inf, as in JavaScript
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
            return to_number(int(text, 16))
        if text in ("Infinity", "-Infinity"):
            return math.inf if text[0] != "-" else -math.inf
        return math.nan
    return math.nan  # arrays, objects


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def equal(a: Any, b: Any) -> bool:
    """GitHub's ``==``: by value for the same type (strings ignoring case), else as numbers."""
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        if ka == "string":
            return bool(a.casefold() == b.casefold())
        if ka == "number":
            return bool(a == b)  # NaN is equal to nothing
        if ka == "object":
            return a is b
        return bool(a == b)
    x, y = to_number(a), to_number(b)
    return x == y


def _order(op: str, a: Any, b: Any) -> bool:
    if _kind(a) == _kind(b) == "string":
        x, y = a.upper(), b.upper()  # as GitHub orders strings: upper-cased
    else:
        x, y = to_number(a), to_number(b)  # NaN: every comparison is false
    return bool({"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op])


def to_text(value: Any) -> str:
    """A value in text: null is empty, numbers as JavaScript writes them, the rest JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _number_text(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


def evaluate(node: Node, context: Mapping[str, Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Ref):
        return _read(node, context)
    if isinstance(node, Index):
        return _index(evaluate(node.base, context), evaluate(node.key, context))
    if isinstance(node, Star):
        base = evaluate(node.base, context)
        if isinstance(base, _Filtered):  # a.*.*: each item's values, one list
            out = _Filtered()
            for item in base:
                if isinstance(item, Mapping):
                    out.extend(item.values())
                elif isinstance(item, list):
                    out.extend(item)
            return out
        if isinstance(base, Mapping):
            return _Filtered(base.values())
        if isinstance(base, list):
            return _Filtered(base)
        return _Filtered()
    if isinstance(node, Not):
        return not truthy(evaluate(node.operand, context))
    if isinstance(node, BoolOp):
        # GitHub's && and ||: the operand that decided, as it is.
        value: Any = None
        for operand in node.operands:
            value = evaluate(operand, context)
            if truthy(value) == (node.op == "or"):
                return value
        return value
    if isinstance(node, Compare):
        left, right = evaluate(node.left, context), evaluate(node.right, context)
        if node.op == "==":
            return equal(left, right)
        if node.op == "!=":
            return not equal(left, right)
        return _order(node.op, left, right)
    return _call(node, context)


def _read(node: Ref, context: Mapping[str, Any]) -> Any:
    value: Any = context
    for i, part in enumerate(node.path):
        if i == 0:
            try:
                value = value[part]
            except (KeyError, TypeError) as exc:
                raise ExpressionError(f"{node} is not defined") from exc
            continue
        if node.path[0] == "steps" or i >= 2:
            # Inside values (a step's output, an item, a field of a param): a missing
            # key reads as null, as GitHub reads a missing property.
            value = _index(value, part)
            continue
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError) as exc:
            raise ExpressionError(f"{node} is not defined") from exc
    return value


def _index(base: Any, key: Any) -> Any:
    if isinstance(base, _Filtered):
        out = _Filtered()
        for item in base:
            got = _index(item, key)
            if got is not None:
                out.extend(got) if isinstance(got, _Filtered) else out.append(got)
        return out
    if isinstance(base, Mapping):
        if isinstance(key, str):
            if key in base:
                return base[key]
            folded = key.casefold()  # GitHub's property names ignore case
            return next((v for k, v in base.items() if str(k).casefold() == folded), None)
        return None
    if isinstance(base, list) and not isinstance(key, bool):
        number = to_number(key) if not isinstance(key, int) else key
        if isinstance(number, float) and (math.isnan(number) or not number.is_integer()):
            return None
        i = int(number)
        return base[i] if 0 <= i < len(base) else None
    return None


def _call(node: Call, context: Mapping[str, Any]) -> Any:
    name = node.name
    if name in STATUS_FUNCTIONS:
        status = context.get(STATUS)
        if status is None:
            raise ExpressionError(f"{name}() can be used only in if:")
        if name == "always":
            return True
        if name == "cancelled":
            return bool(status.get("cancelled"))
        if name == "failure":
            return bool(status.get("failed"))
        return not status.get("failed") and not status.get("cancelled")
    if name == "case":
        args = node.args
        for i in range(0, len(args) - 1, 2):
            decided = evaluate(args[i], context)
            if not isinstance(decided, bool):
                raise ExpressionError(
                    f"case(): condition {i // 2 + 1} is {to_text(decided)!r}, not true or false"
                )
            if decided:
                return evaluate(args[i + 1], context)
        return evaluate(args[-1], context)
    values = [evaluate(a, context) for a in node.args]
    if name == "contains":
        search, item = values
        if isinstance(search, list):
            return any(equal(x, item) for x in search)
        if isinstance(search, Mapping):
            return False  # as GitHub: an object contains nothing
        return to_text(item).casefold() in to_text(search).casefold()
    if name == "startsWith":
        return to_text(values[0]).casefold().startswith(to_text(values[1]).casefold())
    if name == "endsWith":
        return to_text(values[0]).casefold().endswith(to_text(values[1]).casefold())
    if name == "format":
        return _format(to_text(values[0]), values[1:])
    if name == "join":
        separator = to_text(values[1]) if len(values) > 1 else ","
        items = values[0]
        if isinstance(items, list):
            return separator.join(to_text(x) for x in items)
        return to_text(items)
    if name == "toJSON":
        return json.dumps(values[0], indent=2, ensure_ascii=False, default=str)
    # fromJSON
    try:
        return json.loads(to_text(values[0]))
    except ValueError as exc:
        raise ExpressionError(f"fromJSON(): not JSON: {exc}") from exc
    except RecursionError as exc:
        raise ExpressionError("fromJSON(): the JSON nests too deep") from exc


_FORMAT = re.compile(r"\{\{|\}\}|\{(\d+)\}|[{}]")


def _format(text: str, args: Sequence[Any]) -> str:
    """GitHub's format(): ``{0}`` is the first argument; ``{{`` and ``}}`` are braces."""

    def one(m: re.Match[str]) -> str:
        token = m.group()
        if token in ("{{", "}}"):
            return token[0]
        if m.group(1) is None:
            raise ExpressionError(f"format(): a lone {token!r} in {text!r}; write {token * 2}")
        i = int(m.group(1))
        if i >= len(args):
            raise ExpressionError(
                f"format(): {{{i}}} in {text!r}, but only {len(args)} value(s) given"
            )
        return to_text(args[i])

    return _FORMAT.sub(one, text)


# ---------------------------------------------------------------------------
# Templates: strings with ${{ … }} parts
# ---------------------------------------------------------------------------


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
            if isinstance(part, str):
                return part
            value = evaluate(part, context)
            return list(value) if isinstance(value, _Filtered) else value
        return "".join(
            part if isinstance(part, str) else to_text(evaluate(part, context))
            for part in self.parts
        )


def _spans(text: str) -> Iterator[tuple[int, int, str]]:
    """Each ``${{ … }}`` in ``text``: its start, its end and what is inside.

    A ``}}`` inside a quoted string does not end it (``format('{{x}}')`` is one
    expression), as GitHub reads templates.
    """
    pos = 0
    while (start := text.find("${{", pos)) != -1:
        i, quote = start + 3, ""
        while i < len(text):
            c = text[i]
            if quote:
                if c == "\\" and quote == '"':
                    i += 1
                elif c == quote:
                    if quote == "'" and text.startswith("''", i):
                        i += 1  # '' is a quote inside a string
                    else:
                        quote = ""
            elif c in "'\"":
                quote = c
            elif text.startswith("}}", i):
                break
            i += 1
        else:
            raise ExpressionError(f"unclosed '${{{{' in {_shown(text)}")
        yield start, i + 2, text[start + 3 : i]
        pos = i + 2


@functools.lru_cache(maxsize=4096)
def template(text: str) -> Template:
    parts: list[str | Node] = []
    pos = 0
    for start, end, inside in _spans(text):
        if start > pos:
            parts.append(text[pos:start])
        node = parse(inside)
        called = status_calls(node)
        if called:
            raise ExpressionError(f"{called[0]}() can be used only in if:, not in {text!r}")
        parts.append(node)
        pos = end
    if pos < len(text):
        parts.append(text[pos:])
    return Template(tuple(parts) or ("",))


@functools.lru_cache(maxsize=1024)
def condition(text: str) -> Node:
    """An ``if:`` value: ``${{ expr }}`` or a bare expression."""
    stripped = text.strip()
    if stripped.startswith("${{"):
        spans = list(_spans(stripped))
        if len(spans) == 1 and spans[0][1] == len(stripped):
            return parse(spans[0][2])
    return parse(stripped)
