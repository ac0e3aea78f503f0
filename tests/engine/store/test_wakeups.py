"""Wake-ups for SQLite stores: one byte on a Unix socket per idle runner, after a commit."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from engine import definition, store
from engine.runtime import worker
from engine.store import wakeups
from tests.support import postgres_database, postgres_missing

BACKENDS = ("sqlite", "postgresql")


def _workflow(db: store.Store) -> store.Workflow:
    store.save_workflows(db, [(definition.parse("name: w\nsteps: [{id: a, log: x}]\n"), None)])
    return store.get_workflow(db, "w")


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[store.Store]:
    db = store.open_store(f"sqlite:///{tmp_path / 'wfe.db'}")
    yield db
    db.close()


@pytest.fixture
def postgresql_db() -> Iterator[store.Store]:
    why = postgres_missing()
    if why:
        pytest.skip(why)
    with postgres_database() as url:
        db = store.open_store(url)
        yield db
        db.close()


def test_queueing_wakes_every_listener_and_forgets_the_gone(sqlite_db: store.Store) -> None:
    db = sqlite_db
    row = _workflow(db)
    first, second = wakeups.listener(db), wakeups.listener(db)
    assert isinstance(first, wakeups.Listener) and isinstance(second, wakeups.Listener)
    try:
        where = wakeups.folder(db)
        assert where is not None and stat.S_IMODE(where.stat().st_mode) == 0o700
        gone = wakeups.listener(db)
        assert isinstance(gone, wakeups.Listener)
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


def test_on_postgresql_a_notify_reaches_a_listen(postgresql_db: store.Store) -> None:
    import select

    db = postgresql_db
    row = _workflow(db)
    listener = wakeups.listener(db)
    assert listener is not None
    try:
        assert wakeups.folder(db) is None
        store.create_executions(db, row, [{}])
        ready, _, _ = select.select([listener.fileno()], [], [], 10)
        assert ready  # the server told it
        listener.drain()
        store.create_executions(db, row, [{}], owner="me")  # claimed already: nobody told
        ready, _, _ = select.select([listener.fileno()], [], [], 0.5)
        assert not ready
        store.queue_many(db, row, [{}] * 3, "bulk")
        ready, _, _ = select.select([listener.fileno()], [], [], 10)
        assert ready
        listener.drain()
        # Sent in the transaction that queues: heard at its commit, never before (and
        # never for a queueing that rolled back).
        with db.writer.begin() as conn:
            assert wakeups.notify_in(db, conn)
            ready, _, _ = select.select([listener.fileno()], [], [], 0.5)
            assert not ready
        ready, _, _ = select.select([listener.fileno()], [], [], 10)
        assert ready
        listener.drain()
        with pytest.raises(RuntimeError), db.writer.begin() as conn:
            wakeups.notify_in(db, conn)
            raise RuntimeError("rolled back")
        ready, _, _ = select.select([listener.fileno()], [], [], 0.5)
        assert not ready
    finally:
        listener.close()


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
    assert where is None or not list(where.iterdir())  # its socket went with it
