"""Wake-ups for SQLite stores: one byte on a Unix socket per idle runner, after a commit."""

from __future__ import annotations

import stat
import time

import pytest
import trio

from engine import definition, store
from engine.runtime import worker
from engine.store import wakeups

BACKENDS = ("sqlite",)


def _workflow(db: store.Store) -> store.Workflow:
    store.save_workflows(db, [(definition.parse("name: w\nsteps: [{id: a, log: x}]\n"), None)])
    return store.get_workflow(db, "w")


def test_queueing_wakes_every_listener_and_forgets_the_gone(db: store.Store) -> None:
    row = _workflow(db)
    first, second = wakeups.Listener(db), wakeups.Listener(db)
    try:
        where = wakeups.folder(db)
        assert where is not None and stat.S_IMODE(where.stat().st_mode) == 0o700
        gone = wakeups.Listener(db)
        gone.socket.close()  # its runner died without tidying up: the file stays
        store.create_executions(db, row, [{}])
        for listener in (first, second):
            assert listener.socket.recv(8) == b"!"
        assert not gone.path.exists()  # found dead and removed
        store.create_executions(db, row, [{}], owner="me")  # claimed already: nobody told
        with pytest.raises(BlockingIOError):
            first.socket.recv(8)
        store.queue_many(db, row, [{}] * 3, "bulk")
        first.drain()
        with pytest.raises(BlockingIOError):
            first.socket.recv(8)
    finally:
        first.close()
        second.close()
    assert not first.path.exists()


def test_a_postgresql_store_has_no_wake_ups() -> None:
    class NoFile:
        path = None

    assert wakeups.folder(NoFile()) is None  # type: ignore[arg-type]
    assert wakeups.notify(NoFile()) == 0  # type: ignore[arg-type]


@pytest.mark.trio
async def test_an_idle_worker_starts_queued_work_without_waiting_for_its_poll(
    db: store.Store,
) -> None:
    row = _workflow(db)
    stop = trio.Event()
    options = worker.WorkerOptions(poll_interval=60.0, retention=0)  # it would wait a minute
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: worker.serve(db, options, stop=stop))
        with trio.fail_after(10):
            while not store.live_runners(db):
                await trio.sleep(0.02)
            await trio.sleep(0.2)  # idle now, in its wait
            queued = store.create_execution(db, row, {})
            began = time.monotonic()
            while store.get_execution(db, queued.id or 0).status != "succeeded":
                await trio.sleep(0.01)
        assert time.monotonic() - began < 10  # (fail_after says it: not the 60 s poll)
        stop.set()
    where = wakeups.folder(db)
    assert where is not None and not list(where.iterdir())  # its socket went with it
