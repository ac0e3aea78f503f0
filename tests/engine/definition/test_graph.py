from __future__ import annotations

import textwrap

from engine import definition
from engine.definition import graph

LONG = 100_000  # steps: far past Python's recursion limit, so any recursive walk fails


def parse(text: str) -> definition.Workflow:
    return definition.parse(textwrap.dedent(text), "wf.yaml")


def chain(n: int) -> dict[str, list[str]]:
    """s0 <- s1 <- ... <- s(n-1): each step needs the one before it."""
    return {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(n)}


def test_parse_fills_implicit_needs() -> None:
    wf = parse(
        """
        name: order
        steps:
          - {id: a, log: one}
          - {id: b, log: two}
          - {id: c, needs: [], log: three}
          - {id: d, needs: [b, c], log: four}
          - {id: e, log: five}
        """
    )
    assert wf.dependencies() == {"a": [], "b": ["a"], "c": [], "d": ["b", "c"], "e": ["d"]}


# -- find_cycle -------------------------------------------------------------------


def test_find_cycle_returns_the_cycle_closed_on_its_first_step() -> None:
    deps = {"x": ["z"], "y": ["x"], "z": ["y"], "w": []}
    assert graph.find_cycle(deps, deps) == ["x", "z", "y", "x"]


def test_find_cycle_finds_none_in_a_diamond() -> None:
    deps = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    assert graph.find_cycle(deps, deps) is None


def test_find_cycle_ignores_needs_outside_known_and_a_step_needing_itself() -> None:
    # Validation reports both on their own ("unknown step", "cannot need itself").
    deps = {"a": ["nope", "a"], "b": ["a"]}
    assert graph.find_cycle(deps, {"a": 0, "b": 1}) is None


def test_find_cycle_through_a_cycle_of_100_000_steps() -> None:
    deps = chain(LONG)
    deps["s0"] = [f"s{LONG - 1}"]  # the last closes the loop back to the first
    cycle = graph.find_cycle(deps, deps)
    assert cycle is not None
    assert len(cycle) == LONG + 1
    assert cycle[:3] == ["s0", f"s{LONG - 1}", f"s{LONG - 2}"] and cycle[-1] == "s0"
    assert set(cycle) == set(deps)


def test_find_cycle_finds_none_in_a_chain_of_100_000_steps() -> None:
    deps = chain(LONG)
    assert graph.find_cycle(dict(reversed(deps.items())), deps) is None


# -- topological ---------------------------------------------------------------------


def test_topological_puts_each_step_after_what_it_needs() -> None:
    deps = {"d": ["b", "c"], "b": ["a"], "c": ["a"], "a": [], "e": []}
    order = graph.topological(deps)
    assert sorted(order) == ["a", "b", "c", "d", "e"]
    for step, needs in deps.items():
        assert all(order.index(need) < order.index(step) for need in needs), order


def test_topological_skips_needs_it_does_not_know() -> None:
    assert graph.topological({"a": ["b"], "b": [], "c": ["a", "zz"]}) == ["b", "a", "c"]


def test_topological_orders_100_000_steps_written_backwards() -> None:
    deps = dict(reversed(chain(LONG).items()))  # s99999 first, needing s99998, ...
    assert graph.topological(deps) == [f"s{i}" for i in range(LONG)]


# -- Reachability ----------------------------------------------------------------------


def test_reachability_knows_ancestors_only() -> None:
    deps = {"a": [], "b": ["a"], "c": ["b"], "d": []}
    runs_before = graph.Reachability(deps)
    assert runs_before("a", "c") and runs_before("b", "c") and runs_before("a", "b")
    assert not runs_before("c", "a")  # the other way round
    assert not runs_before("d", "c")  # independent
    assert not runs_before("a", "a")  # a step does not finish before itself
    assert not runs_before("nope", "c")
    assert runs_before.knows("d") and not runs_before.knows("nope")


def test_reachability_across_a_chain_of_10_000_steps() -> None:
    # Each step's ancestors are a bit set as long as the chain: 10,000 is the scale the
    # module is built for (100,000 would hold about 600 MB of bits).
    n = 10_000
    runs_before = graph.Reachability(dict(reversed(chain(n).items())))
    assert runs_before("s0", f"s{n - 1}")
    assert not runs_before(f"s{n - 1}", "s0")
    assert runs_before(f"s{n - 2}", f"s{n - 1}")


# -- Graph ---------------------------------------------------------------------------------


def test_graph_of_a_workflow_wires_needs_both_ways() -> None:
    wf = parse(
        """
        name: g
        steps:
          - {id: a, log: x}
          - {id: b, log: x}
          - {id: c, needs: [], log: x}
          - {id: d, needs: [b, c], log: x}
        """
    )
    g = wf.graph
    assert g.roots == ["a", "c"]
    assert g.positions == {"a": 0, "b": 1, "c": 2, "d": 3}
    assert g.dependents == {"a": ["b"], "b": ["d"], "c": ["d"], "d": []}
    assert g.waiting() == {"a": 0, "b": 1, "c": 0, "d": 2}
    assert g.by_id["d"] is wf.step("d")


def test_graph_downstream_is_the_step_and_all_that_follow_it() -> None:
    wf = parse(
        """
        name: g
        steps:
          - {id: a, log: x}
          - {id: b, log: x}
          - {id: c, needs: [a], log: x}
          - {id: d, needs: [b, c], log: x}
          - {id: e, needs: [], log: x}
        """
    )
    assert wf.graph.downstream("a") == {"a", "b", "c", "d"}
    assert wf.graph.downstream("c") == {"c", "d"}
    assert wf.graph.downstream("d") == {"d"}
    assert wf.graph.downstream("e") == {"e"}


def test_graph_downstream_of_the_first_of_a_long_chain() -> None:
    n = 10_000  # ten times the recursion limit
    g = definition.Graph.of([definition.Step(id=f"s{i}", log="x") for i in range(n)])
    assert len(g.downstream("s0")) == n
    assert g.downstream(f"s{n - 1}") == {f"s{n - 1}"}
