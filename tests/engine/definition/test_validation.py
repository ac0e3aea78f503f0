"""Workflow files are refused before anything runs, naming the file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine import definition
from engine.errors import DefinitionError
from tests.support import EXAMPLES


def parse(text: str) -> definition.Workflow:
    return definition.parse(textwrap.dedent(text), "wf.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        parse(text)
    return [str(p) for p in info.value.problems]


# -- every bad input names file, line and field ----------------------------------


def test_malformed_yaml_names_line() -> None:
    assert problems("name: a\nsteps: [ {id: x, log: 1\n") == [
        "wf.yaml:3: malformed YAML: while parsing a flow mapping (from line 2) did not find expected ',' or '}'"
    ]


def test_duplicate_yaml_key_is_refused() -> None:
    assert problems("name: a\nname: b\nsteps: [{id: x, log: y}]\n") == [
        "wf.yaml:2: malformed YAML: duplicate key 'name'"
    ]


def test_unknown_key_lists_expected_keys() -> None:
    (p,) = problems(
        """
        name: a
        steps:
          - id: x
            log: y
            retries: 3
        """
    )
    assert p.startswith(
        "wf.yaml:6: steps[x].retries: unknown key 'retries'; expected one of: id, name, needs, run,"
    )


def test_unknown_top_level_key() -> None:
    assert problems("name: a\nsteps: [{id: x, log: y}]\ntriggers: []\n")[0].startswith(
        "wf.yaml:3: triggers: unknown key 'triggers'"
    )


def test_step_without_action() -> None:
    assert problems("name: a\nsteps:\n  - id: x\n    needs: []\n") == [
        "wf.yaml:3: steps[x]: the step has no action; give one of run, python, http, email, workflow, sleep, log, approval"
    ]


def test_step_with_two_actions() -> None:
    assert problems("name: a\nsteps:\n  - id: x\n    run: true\n    log: y\n") == [
        "wf.yaml:3: steps[x]: the step has run and log; give exactly one action"
    ]


def test_unknown_needs() -> None:
    assert problems(
        "name: a\nsteps:\n  - {id: x, log: y}\n  - id: z\n    needs: [x, nope]\n    log: y\n"
    ) == ["wf.yaml:5: steps[z].needs: unknown step 'nope'; steps are: x, z"]


def test_cycle() -> None:
    assert problems(
        "name: a\nsteps:\n  - id: x\n    needs: [z]\n    log: y\n  - id: y\n    needs: [x]\n    log: y\n  - id: z\n    log: y\n"
    ) == ["wf.yaml:4: steps[x].needs: dependency cycle: x -> z -> y -> x"]


def test_duplicate_step_ids() -> None:
    assert problems("name: a\nsteps:\n  - {id: x, log: y}\n  - id: x\n    log: z\n") == [
        "wf.yaml:4: steps[x].id: duplicate step id 'x' (first at steps[0])"
    ]


def test_bad_duration() -> None:
    assert problems("name: a\nsteps:\n  - id: x\n    log: y\n    timeout: soon\n") == [
        "wf.yaml:5: steps[x].timeout: 'soon' is not a duration; write e.g. 30s, 5m, 1h30m or 500ms"
    ]


def test_bad_cron() -> None:
    assert problems("name: a\nschedule: '61 * * * *'\nsteps: [{id: x, log: y}]\n") == [
        "wf.yaml:2: schedule.cron: '61 * * * *' is not a cron expression; write e.g. '0 2 * * *'"
    ]


def test_bad_time_zone() -> None:
    assert problems(
        "name: a\nschedule: {cron: '* * * * *', timezone: Mars/Base}\nsteps: [{id: x, log: y}]\n"
    ) == [
        "wf.yaml:2: schedule.timezone: 'Mars/Base' is not a time zone; write e.g. UTC or Europe/Paris"
    ]


def test_expression_with_unknown_param() -> None:
    assert problems(
        "name: a\nparams: {target: x}\nsteps:\n  - id: x\n    run: echo ${{ params.targt }}\n"
    ) == ["wf.yaml:5: steps[x].run: params.targt names an unknown parameter (params: target)"]


def test_expression_with_unknown_step() -> None:
    assert problems("name: a\nsteps:\n  - id: x\n    log: ${{ steps.nope.output }}\n") == [
        "wf.yaml:4: steps[x].log: steps.nope.output names an unknown step 'nope'"
    ]


def test_expression_reading_a_step_that_runs_later() -> None:
    assert problems(
        "name: a\nsteps:\n  - id: x\n    log: ${{ steps.y.output }}\n  - id: y\n    log: z\n"
    ) == [
        "wf.yaml:4: steps[x].log: steps.y.output: step 'y' does not run before 'x'; add it to needs"
    ]


def test_expression_syntax_error_in_if() -> None:
    assert problems("name: a\nsteps:\n  - id: x\n    if: params.a ==\n    log: z\n") == [
        "wf.yaml:4: steps[x].if: unexpected end of expression 'params.a =='"
    ]


def test_undeclared_secret() -> None:
    assert problems("name: a\nsteps:\n  - id: x\n    run: echo ${{ secrets.TOKEN }}\n") == [
        "wf.yaml:4: steps[x].run: secrets.TOKEN is not declared under secrets: (declared: none)"
    ]


def test_non_json_param_default() -> None:
    assert problems("name: a\nparams: {day: 2020-01-01}\nsteps: [{id: x, log: y}]\n") == [
        "wf.yaml:2: params: the default of 'day' is date datetime.date(2020, 1, 1), which is not JSON; quote it to make it a string"
    ]


def test_missing_steps_and_bad_name() -> None:
    assert problems("name: 'bad name'\n") == [
        "wf.yaml:1: name: 'bad name' is not a workflow name; use letters, digits, - and _ (at most 200)",
        "wf.yaml:1: 'steps' is required",
    ]


def test_not_a_mapping() -> None:
    assert problems("- just\n- a list\n") == [
        "wf.yaml:1: a workflow file is a mapping with name and steps"
    ]


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(
        DefinitionError, match=r"nope.yaml: cannot read the file: No such file or directory$"
    ):
        definition.load(tmp_path / "nope.yaml")


def test_bundled_examples_are_valid() -> None:
    files = definition.workflow_files(EXAMPLES)
    assert len(files) >= 4
    for f in files:
        definition.load(f)


def test_expression_functions_and_names_are_checked_with_their_line() -> None:
    found = problems(
        """\
        name: a
        params: {hosts: [a]}
        steps:
          - {id: one, log: "${{ contains(params.hosts) }}"}
          - {id: two, log: "${{ hashFiles('x') }}"}
          - {id: three, log: "done: ${{ failure() }}"}
          - {id: four, if: "${{ always() && nope.x }}", log: x}
          - {id: five, log: "${{ params.hosts[0] }} ${{ params.hosts[params.hosts[0]] }}"}
        """
    )
    assert (
        found[0]
        == "wf.yaml:4: steps[one].log: contains() takes 2 arguments, not 1, in ' contains(params.hosts) '"
    )
    assert found[1].startswith("wf.yaml:5: steps[two].log: unknown function hashFiles()")
    assert found[2].startswith("wf.yaml:6: steps[three].log: failure() can be used only in if:")
    assert found[3].startswith("wf.yaml:7: steps[four].if: unknown name 'nope'")
    assert len(found) == 4  # indexes, fixed and computed, are fine


def test_a_secret_is_never_taken_apart_and_unknown_step_reads_are_refused() -> None:
    found = problems(
        """\
        name: a
        secrets: [CREDS]
        steps:
          - {id: one, log: "${{ fromJSON(secrets.CREDS).password }}"}
          - {id: two, log: "${{ steps.*.status }}"}
          - {id: three, needs: [one], log: "${{ steps.one.* }} ${{ steps.one[params.k] }}"}
        params: {k: status}
        """
    )
    assert found[0].startswith("wf.yaml:4: steps[one].log: fromJSON() of a secret")
    assert found[1].startswith("wf.yaml:5: steps[two].log: steps.* or a computed step id")
    assert len(found) == 2  # a known step's fields may be read by a computed key


# -- foreach ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            "{id: s, foreach: 3, log: x}",
            "wf.yaml:3: steps[s].foreach: 3 is not a list, a matrix (a mapping of lists) or"
            " one ${{ }} expression giving a list",
        ),
        (
            "{id: s, foreach: {os: linux}, log: x}",
            "wf.yaml:3: steps[s].foreach: 'linux' is not a list: write a list, a matrix of"
            " lists, or one ${{ }} expression that gives a list",
        ),
        (
            "{id: s, foreach: {os: 3}, log: x}",
            "wf.yaml:3: steps[s].foreach: matrix key 'os': 3 is not a list",
        ),
        (
            "{id: s, foreach: 'web-1 web-2', log: x}",
            "wf.yaml:3: steps[s].foreach: 'web-1 web-2' is not a list: write a list, a matrix"
            " of lists, or one ${{ }} expression that gives a list",
        ),
        (
            "{id: s, foreach: {}, log: x}",
            "wf.yaml:3: steps[s].foreach: a matrix needs at least one key, each with a list",
        ),
        (
            "{id: s, foreach: {os-name: [a]}, log: x}",
            "wf.yaml:3: steps[s].foreach: 'os-name' is not a matrix key; use letters, digits"
            " and _ (item.KEY reads it)",
        ),
        (
            "{id: s, log: '${{ item }}'}",
            "wf.yaml:3: steps[s].log: item: item is known only in a step with foreach:",
        ),
        (
            "{id: s, foreach: {os: [a]}, log: '${{ item.py }}'}",
            "wf.yaml:3: steps[s].log: item.py: the matrix has no key 'py' (keys: os)",
        ),
        (
            "{id: s, foreach: [a], if: '${{ item == 1 }}', log: x}",
            "wf.yaml:3: steps[s].if: item: item is known inside the step's action, not in its if:",
        ),
        (
            "{id: s, foreach: '${{ item }}', log: x}",
            "wf.yaml:3: steps[s].foreach: item: item is known inside the step's action, not"
            " in its foreach:",
        ),
        (
            "{id: s, max_parallel: 2, log: x}",
            "wf.yaml:3: steps[s]: max_parallel apply to a foreach step only",
        ),
        (
            "{id: s, foreach: [a], max_parallel: 0, log: x}",
            "wf.yaml:3: steps[s].max_parallel: Input should be greater than or equal to 1",
        ),
        (
            "{id: s, foreach: [a], approval: {prompt: ok?}}",
            "wf.yaml:3: steps[s]: foreach cannot fan out an approval: give each its own step",
        ),
        (
            "{id: s, foreach: '${{ params.nope }}', log: x}",
            "wf.yaml:3: steps[s].foreach: params.nope names an unknown parameter"
            " (params: none declared)",
        ),
    ],
)
def test_bad_foreach_is_refused_naming_line_and_field(step: str, expected: str) -> None:
    assert problems(f"name: a\nsteps:\n  - {step}\n") == [expected]


def test_a_foreach_step_s_output_is_a_list_not_named_outputs() -> None:
    got = problems(
        """
        name: a
        steps:
          - {id: s, foreach: [a], run: echo}
          - {id: t, log: "${{ steps.s.outputs.x }}"}
        """
    )
    assert got == [
        "wf.yaml:5: steps[t].log: steps.s.outputs.x: a foreach step's output is the list of"
        " its items' outputs"
    ]


# -- on: hooks ----------------------------------------------------------------------------


def test_on_is_the_hooks_key_not_yaml_1_1_s_true() -> None:
    wf = parse("name: a\nsteps: [{id: s, log: x}]\non:\n  failure: [{id: t, log: y}]\n")
    assert [s.id for s in wf.on.failure] == ["t"]
    assert wf.hook_graphs["failure"].positions == {"t": 1}


@pytest.mark.parametrize(
    ("hooks", "expected"),
    [
        (
            "  failure: [{id: t, needs: [s], log: y}]",
            "wf.yaml:5: on.failure[t].needs: 's' is a main step: hooks run after all of them,"
            " and their needs name steps of on.failure only",
        ),
        (
            "  failure: [{id: s, log: y}]",
            "wf.yaml:5: on.failure[s].id: duplicate step id 's' (first at steps[0])",
        ),
        (
            "  success: [{id: ok, log: y}]\n  failure: [{id: t, log: '${{ steps.ok.output }}'}]",
            "wf.yaml:6: on.failure[t].log: steps.ok.output: 'ok' is a step of on.success; a step"
            " reads the main steps' results (a hook also those before it in its own list)",
        ),
        (
            "  failure: [{id: t, approval: {prompt: fix?}}]",
            "wf.yaml:5: on.failure[t]: a hook cannot wait for a person's approval",
        ),
        (
            "  failure: [{id: t, log: y, bogus: 1}]",
            "wf.yaml:5: on.failure[t].bogus: unknown key 'bogus'; expected one of: id, name,"
            " needs, run, python, http, email, workflow, sleep, log, approval, with, timeout, retry, if, env,"
            " continue_on_error, foreach, max_parallel, fail_fast",
        ),
        (
            "  later: [{id: t, log: y}]",
            "wf.yaml:5: on.later: unknown key 'later'; expected one of: success, failure,"
            " cancelled, always",
        ),
        (
            "  failure: [{id: t, log: '${{ execution.result }}'}]",
            "wf.yaml:5: on.failure[t].log: execution.result: execution has id, and in on: hooks"
            " status, error and failed_steps",
        ),
    ],
)
def test_bad_hooks_are_refused_naming_line_and_field(hooks: str, expected: str) -> None:
    assert problems(f"name: a\nsteps:\n  - {{id: s, log: x}}\non:\n{hooks}\n") == [expected]


def test_the_end_of_an_execution_is_read_in_hooks_only() -> None:
    assert problems("name: a\nsteps:\n  - {id: s, log: '${{ execution.status }}'}\n") == [
        "wf.yaml:3: steps[s].log: execution.status: known once the execution has ended, in"
        " its on: hooks"
    ]
    wf = parse(
        """
        name: a
        steps:
          - {id: s, run: echo}
        on:
          always:
            - {id: t, log: "${{ steps.s.output }} ${{ execution.failed_steps[0] }}"}
            - {id: u, log: "${{ steps.t.output }}"}
        """
    )
    assert [s.id for s in wf.hook_steps] == ["t", "u"]
