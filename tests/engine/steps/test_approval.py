"""The approval step: what it waits for is closed when nobody waits any more.

An execution cancelled (or ended any other way) while a step waits for approval closes
that approval, saying who ended it and how; a step that times out closes its own. A
decision that comes later is refused with the reason, never taken for one that mattered.
"""

from __future__ import annotations

import pytest
import trio

from engine import runtime, store
from engine.errors import StoreError
from tests.support import NO_POLL, add, run

BACKENDS = ("sqlite", "postgresql")

GATE = """
name: gate
steps:
  - id: gate
    approval: {prompt: "Ship it?", timeout: TIMEOUT}
  - id: after
    log: shipped
"""


async def wait_for_request(db: store.Store) -> store.Approval:
    with trio.fail_after(20):
        while True:
            pending = await trio.to_thread.run_sync(store.pending_approvals, db)
            if pending:
                return pending[0]
            await trio.sleep(0.05)


def test_cancelling_an_execution_closes_its_waiting_approval(db: store.Store) -> None:
    add(db, GATE.replace("TIMEOUT", "1h"))

    async def main() -> tuple[str, store.Approval]:
        async with runtime.open_executor(db, owner="console:here:1:abc", **NO_POLL) as ex:
            handle = await ex.start("gate")
            request = await wait_for_request(db)
            assert request.execution_id == handle.id
            ex.cancel(handle.id, "cancelled from the console")
            return await handle.wait(), request

    status, request = trio.run(main)
    assert status == "cancelled"
    # The step is closed with it: no `waiting` step inside a cancelled execution.
    assert [r.status for r in store.step_runs(db, request.execution_id)] == ["cancelled"] * 2
    closed = store.get_approval(db, request.execution_id, "gate")
    assert closed.status == "closed"
    assert closed.reason == "its execution cancelled: cancelled from the console"
    assert closed.decided_by == "console:here:1:abc" and closed.decided_at is not None
    assert store.pending_approvals(db) == []
    with pytest.raises(StoreError) as refused:
        store.decide(db, request.execution_id, "gate", approve=True, reason=None, by="me")
    assert str(refused.value) == (
        f"execution {request.execution_id} step 'gate' no longer waits for a decision"
        " (its execution cancelled: cancelled from the console)"
    )


def test_an_execution_that_times_out_while_a_step_waits_closes_the_step(
    db: store.Store,
) -> None:
    add(db, GATE.replace("TIMEOUT", "1h").replace("steps:", "timeout: 1s\nsteps:", 1))
    handle = trio.run(run, db, "gate")
    assert store.get_execution(db, handle.id).status == "timed_out"
    assert [r.status for r in store.step_runs(db, handle.id)] == ["cancelled"] * 2
    assert store.pending_approvals(db) == []


def test_an_approval_that_timed_out_is_closed_and_refuses_a_late_decision(
    db: store.Store,
) -> None:
    add(db, GATE.replace("TIMEOUT", "1s"))

    async def main() -> str:
        async with runtime.open_executor(db, **NO_POLL) as ex:
            return await (await ex.run("gate")).wait()

    assert trio.run(main) == "failed"
    closed = store.get_approval(db, 1, "gate")
    assert (closed.status, closed.reason, closed.decided_by) == (
        "closed",
        "no decision within 1s",
        "wfe",
    )
    with pytest.raises(StoreError, match="no longer waits for a decision"):
        store.decide(db, 1, "gate", approve=False, reason=None, by="me")


def test_a_decided_approval_says_who_decided_it(db: store.Store) -> None:
    add(db, GATE.replace("TIMEOUT", "1h"))

    async def main() -> str:
        async with runtime.open_executor(db, **NO_POLL) as ex:
            handle = await ex.start("gate")
            request = await wait_for_request(db)
            await trio.to_thread.run_sync(
                lambda: store.decide(
                    db, request.execution_id, "gate", approve=True, reason=None, by="alice"
                )
            )
            return await handle.wait()

    assert trio.run(main) == "succeeded"
    with pytest.raises(StoreError) as refused:
        store.decide(db, 1, "gate", approve=False, reason=None, by="bob")
    assert str(refused.value) == "execution 1 step 'gate' was already approved by alice"
