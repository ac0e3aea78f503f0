"""workflow: steps run other workflows as child executions, on a real store."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import trio

from engine import definition, runtime, store
from engine.errors import DefinitionError
from tests.support import NO_POLL, Wfe, add, logs_of, run, steps_of

BACKENDS = ("sqlite", "postgresql")

CHILD = """
name: child
params: {who: nobody, fail: false}
steps:
  - id: greet
    run: echo "hello ${{ params.who }}"
  - id: check
    run: "[ ${{ params.fail }} = false ]"
"""

PARENT = """
name: parent
params: {fail: false}
steps:
  - id: call
    workflow: child
    with: {who: "parent ${{ execution.id }}", fail: "${{ params.fail }}"}
  - id: use
    log: "child said ${{ steps.call.outputs.greet }}"
"""


@pytest.mark.trio
async def test_a_child_runs_with_its_params_and_its_outputs_are_the_step_s(
    db: store.Store,
) -> None:
    add(db, CHILD)
    add(db, PARENT)
    # One execution slot: the parent gives its own back while it waits for its child.
    handle = await run(db, "parent", max_concurrent_executions=1)
    assert handle.status == "succeeded"
    (child,) = store.children(db, handle.id)
    assert (child.workflow_name, child.parent_id, child.parent_step) == ("child", handle.id, "call")
    assert child.status == "succeeded" and child.trigger == f"child of {handle.id}"
    assert child.params == {"who": f"parent {handle.id}", "fail": False}
    call = next(r for r in store.step_runs(db, handle.id) if r.step_id == "call")
    assert call.output == {"greet": f"hello parent {handle.id}", "check": ""}
    assert logs_of(db, handle.id) == [
        f"started child execution {child.id} of child",
        f"child said hello parent {handle.id}",
    ]


@pytest.mark.trio
async def test_a_child_that_fails_fails_the_step(db: store.Store) -> None:
    add(db, CHILD)
    add(db, PARENT)
    handle = await run(db, "parent", {"fail": True})
    assert handle.status == "failed"
    (child,) = store.children(db, handle.id)
    assert steps_of(db, handle.id) == {"call": ("failed", 1), "use": ("skipped", 1)}
    call = next(r for r in store.step_runs(db, handle.id) if r.step_id == "call")
    assert call.error == (
        f"child execution {child.id} of child failed: step 'check' failed: exited with code 1"
    )


@pytest.mark.trio
async def test_cancelling_the_parent_cancels_the_child(db: store.Store) -> None:
    add(db, "name: slow\nsteps:\n  - {id: wait, run: 'sleep 30'}\n")
    add(db, "name: boss\nsteps:\n  - {id: call, workflow: slow}\n")
    async with runtime.open_executor(db, **NO_POLL) as ex:
        handle = await ex.start("boss")
        with trio.fail_after(10):
            while not store.children(db, handle.id) or (
                steps_of(db, store.children(db, handle.id)[0].id).get("wait", ("",))[0] != "running"
            ):
                await trio.sleep(0.02)
        ex.cancel(handle.id)
        await handle.wait()
    (child,) = store.children(db, handle.id)
    assert store.get_execution(db, handle.id).status == "cancelled"
    assert (child.status, child.error) == (
        "cancelled",
        f"its parent, execution {handle.id}, was cancelled",
    )
    assert steps_of(db, child.id) == {"wait": ("cancelled", 1)}


@pytest.mark.trio
async def test_a_chain_deeper_than_the_limit_is_refused_when_it_runs(db: store.Store) -> None:
    chain = [f"w{i}" for i in range(7)]
    items = [
        (
            definition.parse(
                f"name: {name}\nsteps:\n  - {{id: s, workflow: {chain[i + 1]}}}\n"
                if i + 1 < len(chain)
                else f"name: {name}\nsteps:\n  - {{id: s, log: bottom}}\n",
                f"{name}.yaml",
            ),
            None,
        )
        for i, name in enumerate(chain)
    ]
    store.save_workflows(db, items)
    handle = await run(db, "w0")
    assert handle.status == "failed"
    # w0 (depth 0) starts w1 ... w5 (depth 5), whose step would start a sixth level.
    deepest = handle.id
    errors = []
    for _ in range(6):
        kids = store.children(db, deepest)
        step = next(r for r in store.step_runs(db, deepest) if r.step_id == "s")
        errors.append(step.error)
        if not kids:
            break
        deepest = kids[0].id
    assert errors[-1] == "workflow: w6 would be 6 calls deep; at most 5"
    assert store.get_execution(db, deepest).workflow_name == "w5"


def _problems(db: store.Store, *texts: str) -> list[str]:
    items = [
        (definition.parse(textwrap.dedent(t), f"{i}.yaml"), f"{i}.yaml")
        for i, t in enumerate(texts)
    ]
    with pytest.raises(DefinitionError) as info:
        store.save_workflows(db, items)
    return [str(p) for p in info.value.problems]


def test_unknown_workflows_and_cycles_are_refused_when_added(db: store.Store) -> None:
    assert _problems(db, "name: a\nsteps:\n  - {id: s, log: x}\n  - {id: t, workflow: nope}\n") == [
        "0.yaml:4: steps[t].workflow: unknown workflow 'nope' (add it first, or with this"
        " file; known: a)"
    ]
    assert _problems(db, "name: me\nsteps:\n  - {id: s, workflow: me}\n") == [
        "0.yaml:3: steps[s].workflow: workflows call each other in a cycle: me -> me"
    ]
    assert store.list_workflows(db)[1] == 0  # nothing was saved
    add(db, "name: b\nsteps:\n  - {id: s, log: x}\n")
    add(db, "name: a\nsteps:\n  - {id: s, workflow: b}\n")
    # b, stored, now calls a, which calls b.
    assert _problems(db, "name: b\nsteps:\n  - {id: s, log: x}\n  - {id: back, workflow: a}\n") == [
        "0.yaml:4: steps[back].workflow: workflows call each other in a cycle: b -> a -> b"
    ]
    assert definition.parsed(store.get_workflow(db, "b")).calls == []  # b kept as it was


def test_wfe_shows_a_child_under_its_parent(wfe: Wfe, tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text(CHILD)
    (tmp_path / "parent.yaml").write_text(PARENT)
    added = wfe("workflow", "add", str(tmp_path / "parent.yaml"))
    assert added.exit_code == 1 and "unknown workflow 'child'" in added.stderr
    assert wfe("workflow", "add", str(tmp_path)).exit_code == 0  # both at once: fine
    ran = wfe("run", "parent")
    assert ran.exit_code == 0
    # The child's lines say whose they are; the parent's stay as they were.
    assert "    [2] greet    | hello parent 1" in ran.stdout
    assert "  ✓ succeeded  [2] greet" in ran.stdout and "  ✓ succeeded  call" in ran.stdout
    shown = wfe("executions", "show", "1")
    assert "call -> execution 2 of child  ✓ succeeded" in shown.stdout
    assert "child of execution 1 (its step call)" in wfe("executions", "show", "2").stdout
    data = json.loads(wfe("executions", "show", "1", "--json").stdout)
    assert [(c["id"], c["parent_step"], c["status"]) for c in data["children"]] == [
        (2, "call", "succeeded")
    ]
