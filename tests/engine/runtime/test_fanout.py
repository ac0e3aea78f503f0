"""foreach: one step run per item, on a real store, real shells, a real killed worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from engine import runtime, store
from tests import callables
from tests.support import NO_POLL, Wfe, add, logs_of, run, steps_of, wait_until

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(autouse=True)
def _reset_callables() -> None:
    callables.reset()


@pytest.mark.trio
async def test_items_from_a_param_run_in_order_and_their_outputs_are_the_step_s(
    db: store.Store, tmp_path: Path
) -> None:
    hostile = tmp_path / "pwned"
    add(
        db,
        f"""
        name: fan
        params:
          hosts: [web-1, web-2, "$(touch {hostile})", "a; touch {hostile}"]
        steps:
          - id: deploy
            foreach: ${{{{ params.hosts }}}}
            run: echo "deploying ${{{{ item }}}}"
          - id: after
            log: "${{{{ join(steps.deploy.output, '|') }}}}"
        """,
    )
    handle = await run(db, "fan")
    assert handle.status == "succeeded"
    runs = store.step_runs(db, handle.id)
    ids = [r.step_id for r in runs]
    # A label longer than 40 characters (the paths) makes every item's an index.
    assert ids == ["deploy", *(f"deploy[{i}]" for i in range(4)), "after"]
    assert runs[0].output == [
        "deploying web-1",
        "deploying web-2",
        f"deploying $(touch {hostile})",
        f"deploying a; touch {hostile}",
    ]
    assert not hostile.exists()  # an item reaches the shell as data
    assert logs_of(db, handle.id)[-1] == "|".join(runs[0].output)


@pytest.mark.trio
async def test_a_matrix_yields_every_combination_and_item_fields(db: store.Store) -> None:
    add(
        db,
        """
        name: m
        steps:
          - id: test
            foreach: {os: [linux, mac], py: ["3.11", "3.12"]}
            log: "${{ item.os }}/${{ item.py }}"
        """,
    )
    handle = await run(db, "m")
    assert handle.status == "succeeded"
    assert list(steps_of(db, handle.id)) == [
        "test",
        "test[linux, 3.11]",
        "test[linux, 3.12]",
        "test[mac, 3.11]",
        "test[mac, 3.12]",
    ]
    assert store.step_runs(db, handle.id)[0].output == [
        "linux/3.11",
        "linux/3.12",
        "mac/3.11",
        "mac/3.12",
    ]


@pytest.mark.trio
async def test_labels_that_are_not_unique_or_plain_become_indexes(db: store.Store) -> None:
    add(
        db,
        """
        name: dup
        steps:
          - id: s
            foreach: [a, a, {x: [1]}]
            log: "${{ toJSON(item) }}"
        """,
    )
    handle = await run(db, "dup")
    assert list(steps_of(db, handle.id)) == ["s", "s[0]", "s[1]", "s[2]"]


@pytest.mark.trio
async def test_fail_fast_starts_no_new_item_after_a_failure(db: store.Store) -> None:
    add(
        db,
        """
        name: ff
        steps:
          - id: s
            foreach: [1, 2, 3, 4]
            max_parallel: 1
            run: "test ${{ item }} -ne 2"
          - id: after
            log: never
        """,
    )
    handle = await run(db, "ff")
    assert handle.status == "failed"
    got = steps_of(db, handle.id)
    assert got == {
        "s": ("failed", 1),
        "s[1]": ("succeeded", 1),
        "s[2]": ("failed", 1),
        "s[3]": ("skipped", 1),
        "s[4]": ("skipped", 1),
        "after": ("skipped", 1),
    }
    e = store.get_execution(db, handle.id)
    assert e.error == "step 's' failed: 1 of 4 items failed: s[2]; 2 not started"


@pytest.mark.trio
async def test_without_fail_fast_every_item_runs(db: store.Store) -> None:
    add(
        db,
        """
        name: all
        steps:
          - id: s
            foreach: [1, 2, 3, 4, 5]
            fail_fast: false
            run: "case ${{ item }} in 2|4) true;; *) false;; esac"
        """,
    )
    handle = await run(db, "all")
    got = steps_of(db, handle.id)
    assert [got[f"s[{i}]"][0] for i in range(1, 6)] == [
        "failed",
        "succeeded",
        "failed",
        "succeeded",
        "failed",
    ]
    row = store.step_runs(db, handle.id)[0]
    assert row.status == "failed" and row.error == "3 of 5 items failed: s[1], s[3], s[5]"


@pytest.mark.trio
async def test_max_parallel_caps_the_items_running_at_once(db: store.Store) -> None:
    add(
        db,
        """
        name: par
        steps:
          - id: s
            foreach: [1, 2, 3, 4, 5, 6, 7]
            max_parallel: 3
            python: tests.callables:track
            with: {seconds: 0.05}
        """,
    )
    handle = await run(db, "par")
    assert handle.status == "succeeded"
    assert callables.peak == 3
    assert max(store.step_runs(db, handle.id)[0].output) == 3


@pytest.mark.trio
async def test_an_expression_that_gives_no_list_fails_the_step_saying_so(db: store.Store) -> None:
    add(
        db,
        """
        name: nolist
        params: {hosts: "web-1,web-2"}
        steps:
          - id: s
            foreach: ${{ params.hosts }}
            log: x
        """,
    )
    handle = await run(db, "nolist")
    assert handle.status == "failed"
    row = store.step_runs(db, handle.id)[0]
    assert row.error == (
        "foreach: foreach gave 'web-1,web-2' (a string), not a list (fromJSON() reads a JSON list)"
    )


@pytest.mark.trio
async def test_items_from_an_earlier_step_s_output(db: store.Store) -> None:
    add(
        db,
        """
        name: chain
        steps:
          - id: list
            run: echo '["x", "y"]'
          - id: each
            foreach: ${{ fromJSON(steps.list.output) }}
            log: "got ${{ item }}"
          - id: none
            foreach: []
            log: never
        """,
    )
    handle = await run(db, "chain")
    assert handle.status == "succeeded"
    runs = {r.step_id: r for r in store.step_runs(db, handle.id)}
    assert runs["each"].output == ["got x", "got y"]
    assert runs["none"].output == [] and runs["none"].status == "succeeded"


@pytest.mark.trio
async def test_ten_thousand_items_are_each_recorded(db: store.Store) -> None:
    add(
        db,
        "name: big\nsteps:\n"
        f"  - {{id: s, foreach: {json.dumps(list(range(10_000)))}, log: x}}\n"
        "  - id: wide\n"
        "    foreach: {a: [0,1,2,3,4,5,6,7,8,9], b: [0,1,2,3,4,5,6,7,8,9],"
        " c: [0,1,2,3,4,5,6,7,8,9], d: [0,1,2,3,4,5,6,7,8,9]}\n"
        '    log: "${{ item.a }}${{ item.b }}${{ item.c }}${{ item.d }}"\n',
    )
    handle = await run(db, "big")
    assert handle.status == "succeeded"
    window = store.step_window(db, handle.id, start=0, limit=50)
    assert [r.step_id for r in window.runs] == ["s", "wide"]  # items are counted, not listed
    assert window.items == {"s": {"succeeded": 10_000}, "wide": {"succeeded": 10_000}}
    assert window.counts == {"succeeded": 2}
    runs = store.step_runs(db, handle.id)
    assert len(runs) == 2 + 20_000
    wide = next(r for r in runs if r.step_id == "wide")
    assert wide.output[:3] == ["0000", "0001", "0002"] and wide.output[-1] == "9999"
    assert len(store.log_lines(db, handle.id, step_id="wide", limit=20_000)) == 10_000


@pytest.mark.trio
async def test_cancelling_leaves_no_item_running(db: store.Store) -> None:
    add(
        db,
        """
        name: slow
        steps:
          - id: s
            foreach: [1, 2, 3, 4]
            max_parallel: 2
            run: sleep 30
        """,
    )
    async with runtime.open_executor(db, **NO_POLL) as ex:
        handle = await ex.start("slow")
        with trio.fail_after(10):
            while sum(r.status == "running" for r in store.step_runs(db, handle.id)) < 3:
                await trio.sleep(0.05)
        ex.cancel(handle.id)
        await handle.wait()
    got = steps_of(db, handle.id)
    assert got["s"][0] == "cancelled"
    assert [got[f"s[{i}]"][0] for i in (1, 2)] == ["cancelled", "cancelled"]
    assert "s[3]" not in got  # never started: no row
    assert not any(status == "running" for status, _ in got.values())


def test_a_worker_killed_mid_fanout_is_taken_over_and_no_ended_item_runs_again(
    wfe: Wfe, db: store.Store, tmp_path: Path
) -> None:
    effects = tmp_path / "effects"
    go = tmp_path / "go"
    f = tmp_path / "fan.yaml"
    f.write_text(
        f"""name: fan
steps:
  - id: s
    foreach: [a, b, c, d]
    max_parallel: 2
    run: |
      echo ${{{{ item }}}} >> {effects}
      if [ ${{{{ item }}}} = c ]; then while [ ! -e {go} ]; do sleep 0.05; done; fi
      echo ${{{{ item }}}}
"""
    )
    wfe("workflow", "add", str(f))
    execution_id = int(wfe("run", "fan", "--detach").stdout)
    first = wfe.start("worker", "--lease", "1s")
    try:
        wait_until(
            lambda: any(r.step_id == "s[c]" and r.pid for r in store.step_runs(db, execution_id))
        )
        # a, b and d ended, and their ends are committed (an end not recorded would run
        # again: the promise is about what was recorded).
        wait_until(
            lambda: (
                {
                    r.step_id
                    for r in store.step_runs(db, execution_id, latest_only=True)
                    if r.status == "succeeded"
                }
                == {"s[a]", "s[b]", "s[d]"}
            )
        )
    finally:
        first.kill()  # SIGKILL: no chance to record anything
        first.communicate(timeout=10)
    go.touch()
    second = wfe.start("worker", "--lease", "1s")
    try:
        wait_until(lambda: store.get_execution(db, execution_id).status == "succeeded", timeout=30)
    finally:
        second.terminate()
        second.communicate(timeout=30)
    # a, b and d had ended: kept. c was running: it runs again as its next attempt.
    assert sorted(effects.read_text().split()) == ["a", "b", "c", "c", "d"]
    attempts = [(r.step_id, r.attempt, r.status) for r in store.step_runs(db, execution_id)]
    assert ("s[c]", 1, "failed") in attempts and ("s[c]", 2, "succeeded") in attempts
    assert ("s", 2, "succeeded") in attempts
    shown = json.loads(wfe("executions", "show", str(execution_id), "--json").stdout)
    assert shown["status"] == "succeeded"
    last = {r.step_id: r for r in store.step_runs(db, execution_id, latest_only=True)}
    assert last["s"].output == ["a", "b", "c", "d"]
