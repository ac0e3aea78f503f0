"""Where each ``${{ }}`` of a ``run:`` stands: heredocs, arithmetic, quotes, comments."""

from __future__ import annotations

import pytest

from engine import definition
from engine.definition import commands, expressions
from engine.errors import DefinitionError, ExpressionError


def compiled(command: str) -> commands.Command:
    return commands.compile_command(expressions.template(command))


def test_in_a_heredoc_the_value_stands_unquoted() -> None:
    c = compiled("cat <<EOF\nhello ${{ params.x }}\nEOF\necho ${{ params.y }}")
    assert c.script == 'cat <<EOF\nhello ${WFE_EXPR_0}\nEOF\necho "${WFE_EXPR_1}"'
    assert c.places == ["heredoc", "bare"]


def test_a_tab_stripped_heredoc_ends_at_its_indented_delimiter() -> None:
    c = compiled("cat <<-END > f\n\tone ${{ params.x }}\n\tEND\necho ${{ params.y }}")
    assert c.places == ["heredoc", "bare"]


def test_two_heredocs_on_one_line_are_read_in_turn() -> None:
    c = compiled("paste <<A <<B\n${{ params.x }}\nA\n'${{ params.y }}'\nB\n${{ params.z }}")
    assert c.places == ["heredoc", "heredoc", "bare"]  # a quote in a heredoc is text


def test_a_here_string_is_no_heredoc() -> None:
    assert compiled("cat <<< ${{ params.x }}").places == ["bare"]


@pytest.mark.parametrize("delimiter", ["'EOF'", '"EOF"', "\\EOF", "E'O'F"])
def test_a_quoted_heredoc_refuses_a_value_and_says_why(delimiter: str) -> None:
    with pytest.raises(
        ExpressionError, match=r"not expanded by the shell; pass the value through env:"
    ):
        compiled(f"cat <<{delimiter}\n${{{{ params.x }}}}\nEOF")
    assert compiled(f"cat <<{delimiter}\nplain\nEOF\necho ${{{{ params.x }}}}").places == ["bare"]


@pytest.mark.parametrize(
    "command",
    [
        "echo $(( ${{ params.n }} + 1 ))",
        'echo "$(( ${{ params.n }} * (2 + 3) ))"',
        "(( ${{ params.n }} > 2 )) && echo big",
        "x=1; (( x += ${{ params.n }} ))",
        "a[${{ params.n }}]=1",
        'echo "${a[${{ params.n }}]}"',
        "cat <<EOF\n$(( ${{ params.n }} ))\nEOF",
    ],
)
def test_arithmetic_is_found(command: str) -> None:
    assert compiled(command).places == ["arithmetic"]


@pytest.mark.parametrize(
    "command",
    [
        "[ -f ${{ params.n }} ]",
        "echo $(( 1 + 2 )) ${{ params.n }}",
        "(cd /tmp) && echo ${{ params.n }}",
        "echo $(echo ${{ params.n }})",
        "echo x[1] ${{ params.n }}",
    ],
)
def test_what_only_looks_like_arithmetic_is_not(command: str) -> None:
    assert compiled(command).places != ["arithmetic"]


WORKFLOW = """\
name: arith
params: {{n: {default}, word: hello}}
steps:
  - id: a
    run: |
      echo start
      echo $(( {value} + 1 ))
"""


def test_arithmetic_takes_only_a_number_parameter() -> None:
    assert definition.parse(WORKFLOW.format(default=2, value="${{ params.n }}"))
    for default, value in [
        ("'2'", "${{ params.n }}"),  # a string default
        ("true", "${{ params.n }}"),
        (2, "${{ params.word }}"),
        (2, "${{ env.HOME }}"),
    ]:
        with pytest.raises(DefinitionError) as caught:
            definition.parse(WORKFLOW.format(default=default, value=value), "arith.yaml")
        assert str(caught.value).startswith(
            "arith.yaml:5: steps[a].run: ${{ }} inside bash arithmetic ($(( )), (( )) or"
            " name[...]) is evaluated by bash"
        ), (default, value)
        assert str(caught.value).endswith("pass anything else through env:")


def test_a_quoted_heredoc_is_refused_with_its_line() -> None:
    text = "name: h\nparams: {x: 1}\nsteps:\n  - id: a\n    run: |\n      cat <<'EOF'\n      ${{ params.x }}\n      EOF\n"
    with pytest.raises(
        DefinitionError, match=r"^h.yaml:5: steps\[a\].run: \$\{\{ \}\} inside a heredoc"
    ):
        definition.parse(text, "h.yaml")


def test_a_number_is_checked_when_the_step_runs() -> None:
    node = expressions.parse("params.n")
    assert commands.number(5, node) == "5" and commands.number(2.5, node) == "2.5"
    for bad in ("a[$(touch /tmp/x)]", True, None, "5"):
        with pytest.raises(
            ExpressionError, match=r"^params.n stands in bash arithmetic and must be a number"
        ):
            commands.number(bad, node)
