"""How a ``run:`` command is read: where each ``${{ }}`` stands in the shell's syntax.

A value never becomes shell syntax: each ``${{ … }}`` is replaced by a reference to an
environment variable (``WFE_EXPR_0``, …) written to suit where it stands, and the value
travels in the child's environment, where the shell expands it as data:

    bare                  echo ${{ x }}         ->  echo "${WFE_EXPR_0}"
    in double quotes      echo "${{ x }}"       ->  echo "${WFE_EXPR_0}"
    in single quotes      echo '${{ x }}'       ->  echo ''"${WFE_EXPR_0}"''
    in a heredoc          cat <<EOF             ->  the value as it is (a heredoc's
                          ${{ x }}                  quotes would be printed)
                          EOF

Two places are refused when the file is added, because the value would not arrive as
data: a heredoc whose delimiter is quoted (``<<'EOF'``: the shell expands nothing there),
and bash arithmetic (``$(( ))``, ``(( ))``, ``name[…]``), which evaluates what it is
given, command substitutions hidden in array subscripts included. In arithmetic only a
parameter whose default is a number may stand; it is checked to be a number when the
step runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.definition import expressions
from engine.errors import ExpressionError

Place = Literal["bare", "double", "single", "heredoc", "arithmetic"]

_WORD_END = set(" \t\n;|&<>()")
_COMMAND_START = set("\n;|&({")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_]")


@dataclass(frozen=True)
class Command:
    """A ``run:`` command compiled: the script with placeholders, and what fills them."""

    script: str
    nodes: list[expressions.Node]
    places: list[Place]

    def numeric(self) -> list[int]:
        """The placeholders that stand in arithmetic: their values must be numbers."""
        return [i for i, place in enumerate(self.places) if place == "arithmetic"]


@dataclass
class _Heredoc:
    delimiter: str
    quoted: bool
    strip_tabs: bool


@dataclass
class _Scanner:
    """The shell's reading state, carried from one literal part to the next."""

    quote: str = ""  # "", "'" or '"'
    comment: bool = False
    arithmetic: list[int] = field(default_factory=list)  # open $(( / (( : their inner ( depth
    subscripts: int = 0  # open name[ ... ]
    pending: list[_Heredoc] = field(default_factory=list)  # heredocs whose body is next
    body: _Heredoc | None = None  # the heredoc being read
    line: str = ""  # the body's current line, so far
    last: str = "\n"  # the last character outside quotes and comments

    @property
    def place(self) -> Place:
        if self.body is not None and self.body.quoted:
            raise ExpressionError(
                f"${{{{ }}}} inside a heredoc with a quoted delimiter (<<'{self.body.delimiter}')"
                " is not expanded by the shell; pass the value through env: and write it"
                f" unquoted (<<{self.body.delimiter}), or use ${{{{ }}}} outside the heredoc"
            )
        if self.arithmetic or self.subscripts:
            return "arithmetic"
        if self.body is not None:
            return "heredoc"
        if self.quote == '"':
            return "double"
        if self.quote == "'":
            return "single"
        return "bare"

    def scan(self, text: str) -> None:
        i = 0
        while i < len(text):
            i = self._step(text, i)

    def _step(self, text: str, i: int) -> int:
        ch = text[i]
        if self.body is not None:
            return self._body_char(text, i)
        if self.comment:
            if ch == "\n":
                self.comment = False
                return self._newline(i)
            return i + 1
        if self.quote == "'":
            if ch == "'":
                self.quote = ""
            return i + 1
        if ch == "\\":
            return i + 2  # the next character is escaped, in "" and outside
        if text.startswith("$((", i):
            self.arithmetic.append(0)
            return i + 3
        if self.arithmetic:
            return self._arithmetic_char(text, i)
        if self.quote == '"':
            if ch == '"':
                self.quote = ""
            elif text.startswith("${", i) and re.match(r"\$\{[A-Za-z_][A-Za-z0-9_]*\[", text[i:]):
                self.subscripts += 1
                return text.index("[", i) + 1
            elif ch == "]" and self.subscripts:
                self.subscripts -= 1
            return i + 1
        if self.subscripts and ch == "]":
            self.subscripts -= 1
            return i + 1
        if ch == "'":
            self.quote = "'"
        elif ch == '"':
            self.quote = '"'
        elif ch == "#" and self.last in " \t\n;|&(":
            self.comment = True  # a comment runs to the end of the line; quotes mean nothing
            return i + 1
        elif text.startswith("((", i) and self.last in " \t" + "".join(_COMMAND_START):
            self.arithmetic.append(0)
            self.last = "("
            return i + 2
        elif ch == "[" and _NAME_CHAR.match(self.last):
            self.subscripts += 1
        elif text.startswith("<<", i) and not text.startswith("<<<", i):
            return self._heredoc(text, i + 2)
        elif ch == "\n":
            return self._newline(i)
        self.last = ch
        return i + 1

    def _arithmetic_char(self, text: str, i: int) -> int:
        ch = text[i]
        if ch == "(":
            self.arithmetic[-1] += 1
        elif ch == ")":
            if self.arithmetic[-1]:
                self.arithmetic[-1] -= 1
            elif text.startswith("))", i):
                self.arithmetic.pop()
                self.last = ")"
                return i + 2
        return i + 1

    def _heredoc(self, text: str, i: int) -> int:
        strip_tabs = text.startswith("-", i)
        i += strip_tabs
        while i < len(text) and text[i] in " \t":
            i += 1
        word = ""
        quoted = False
        while i < len(text) and text[i] not in _WORD_END:
            ch = text[i]
            if ch in "'\"":
                end = text.find(ch, i + 1)
                end = len(text) if end < 0 else end
                word += text[i + 1 : end]
                quoted = True
                i = end + 1
            elif ch == "\\":
                word += text[i + 1 : i + 2]
                quoted = True
                i += 2
            else:
                word += ch
                i += 1
        if word:
            self.pending.append(_Heredoc(word, quoted, strip_tabs))
        self.last = "<"
        return i

    def _newline(self, i: int) -> int:
        self.last = "\n"
        if self.pending:
            self.body = self.pending.pop(0)
            self.line = ""
        return i + 1

    def _body_char(self, text: str, i: int) -> int:
        body = self.body
        assert body is not None
        ch = text[i]
        if ch != "\n":
            self.line += ch
            if not body.quoted and ch == "\\":
                self.line += text[i + 1 : i + 2]
                return i + 2
            if not body.quoted and text.startswith("$((", i):
                self.arithmetic.append(0)
                self.line += "(("
                return i + 3
            if self.arithmetic and not body.quoted:
                return self._arithmetic_char(text, i)
            return i + 1
        line = self.line.lstrip("\t") if body.strip_tabs else self.line
        self.line = ""
        if line == body.delimiter:
            self.body = None
            if self.pending:  # the next heredoc of the same command line starts now
                self.body = self.pending.pop(0)
        return i + 1


def compile_command(template: expressions.Template) -> Command:
    """The script with placeholders, and the expressions whose values fill them.

    Raises:
        ExpressionError: a ``${{ }}`` stands where its value would not arrive as data.
    """
    out: list[str] = []
    nodes: list[expressions.Node] = []
    places: list[Place] = []
    scanner = _Scanner()
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
            scanner.scan(part)
            continue
        if scanner.body is not None:
            scanner.line += "\0"  # a placeholder on a line: it is no delimiter line
        place = scanner.place
        name = f"WFE_EXPR_{len(nodes)}"
        nodes.append(part)
        places.append(place)
        if place in ("double", "heredoc", "arithmetic"):
            out.append(f"${{{name}}}")
        elif place == "single":
            out.append(f"'\"${{{name}}}\"'")
        else:
            out.append(f'"${{{name}}}"')
    return Command("".join(out), nodes, places)


def check_numbers(command: Command, params: Mapping[str, Any]) -> str | None:
    """Why a placeholder in arithmetic is not a number parameter, or None (for validation)."""
    for i in command.numeric():
        node = command.nodes[i]
        default = (
            params.get(str(node.path[1]))
            if isinstance(node, expressions.Ref)
            and len(node.path) == 2
            and node.path[0] == "params"
            else None
        )
        if not isinstance(default, int | float) or isinstance(default, bool):
            return (
                "${{ }} inside bash arithmetic ($(( )), (( )) or name[...]) is evaluated by"
                " bash, which runs what a value hides there: only a parameter whose default"
                " is a number may stand in it; pass anything else through env:"
            )
    return None


def number(value: Any, node: expressions.Node) -> str:
    """A value that stands in arithmetic, as text: it must be a number (when it runs)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ExpressionError(f"{node} stands in bash arithmetic and must be a number; it is {value!r}")
