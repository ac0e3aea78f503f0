"""How the console's host interleaves the engine (trio, as a guest) with the UI, and
keeps the embedded executor alive (or says why not) on a real store."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from console.app import WorkflowConsole
from console.host import GivesWay
from engine import store
from tests.console.support import drive, notes, wait_for
from tests.support import Wfe, add, wait_until, write_lock_held


def test_engine_callbacks_run_in_order_and_wait_while_keys_come() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        busy = [False]
        ran: list[object] = []
        way = GivesWay(loop, lambda: busy[0], delay=0.05)

        def boom() -> None:
            raise RuntimeError("a broken callback")

        loop.set_exception_handler(lambda _loop, context: ran.append("reported"))
        way.run_soon(lambda: ran.append(1))
        thread = threading.Thread(
            target=lambda: [way.run_soon(lambda: ran.append(2)), way.run_soon(boom)]
        )
        thread.start()
        thread.join()
        way.run_soon(lambda: ran.append(3))
        await asyncio.sleep(0.01)
        assert ran == [1, 2, "reported", 3]  # in order; a failure does not stop the rest

        busy[0] = True  # a key was just pressed: the engine waits its turn
        way.run_soon(lambda: ran.append(4))
        loop.call_soon(lambda: ran.append("ui"))
        await asyncio.sleep(0.01)
        assert ran[-1] == "ui"
        await asyncio.sleep(0.06)
        assert ran[-2:] == ["ui", 4]

    asyncio.run(main())


def test_periodic_refreshes_skip_their_turn_just_after_a_key() -> None:
    from textual.app import App

    from console.screens.base import View

    turns: list[bool] = []

    class Counting(View):
        def on_mount(self) -> None:
            self.every(0.02, lambda: turns.append(self.app.pressed))  # type: ignore[attr-defined]

    class Keys(App[None]):
        pressed = False

        def key_just_pressed(self) -> bool:
            return self.pressed

        def on_mount(self) -> None:
            # A view reads "a key was just pressed" from its services.
            self.push_screen(Counting(SimpleNamespace(busy=self.key_just_pressed)))  # type: ignore[arg-type]

    async def main() -> None:
        app = Keys()
        async with app.run_test() as pilot:
            await pilot.pause(0.1)
            assert turns and not any(turns)
            app.pressed = True
            seen = len(turns)
            await pilot.pause(0.1)
            assert len(turns) == seen  # no turn while a key's work goes first
            app.pressed = False
            await pilot.pause(0.1)
            assert len(turns) > seen

    asyncio.run(main())


# -- the embedded executor's life, on a real store with real processes ---------------------


def health_text(app: WorkflowConsole) -> str:
    return " ".join(str(w.render()) for w in app.screen.query(Static))


def test_an_executor_stopped_by_a_lock_says_so_restarts_and_says_it_is_back(
    db: store.Store, make_app
) -> None:
    # Held from before the console opens: its session's first heartbeat waits out
    # SQLite's busy timeout (10 s) and fails, as a lease lost to a long lock ends one.
    assert db.path is not None
    app = make_app(db)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("4")
        await app.host.wait_ready()
        assert not app.host.running
        (stopped,) = notes(app)
        assert stopped.startswith("The embedded executor stopped: database error on ")
        assert stopped.endswith(": database is locked; restarting in 1s")
        await pilot.pause(1.1)  # Health's refresh
        text = health_text(app)
        assert "not running: database error on " in text and "; restarting in " in text
        waits = "none alive; executions started here cannot run until the executor is back"
        assert waits in text
        assert "run in this console" not in text
        unlock.set()
        await wait_for(pilot, lambda: app.host.running, timeout=30)
        await wait_for(pilot, lambda: len(notes(app)) == 2)
        assert notes(app)[1] == "The embedded executor is running again"
        await pilot.pause(1.1)
        assert "executions started here run in this console" in health_text(app)

    unlock = threading.Event()

    def hold() -> None:
        with write_lock_held(db.path):
            locked.set()
            unlock.wait(60)

    locked = threading.Event()
    holder = threading.Thread(target=hold)
    holder.start()
    try:
        locked.wait(10)
        drive(app, scenario)
    finally:
        unlock.set()
        holder.join()


def test_a_store_file_moved_under_the_console_stops_its_executor_and_says_so(
    db: store.Store, make_app
) -> None:
    assert db.path is not None

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await pilot.press("4")
        db.path.rename(db.path.with_name("moved.db"))
        await wait_for(pilot, lambda: not app.host.alive, timeout=30)  # found by a heartbeat
        await pilot.pause(2.5)  # a restart would come within a second
        assert not app.host.running
        assert notes(app) == [
            "The embedded executor stopped: the store file was moved, deleted or replaced"
            " since it was opened: restart wfe"
        ]
        text = health_text(app)
        assert "not running: the store file was moved" in text and "restarting" not in text
        assert "none alive; nothing here runs executions" in text
        # What Health (and `wfe health`) says of the store itself: see test_overview.
        assert store.health(db).error == (
            "the store file was moved, deleted or replaced since it was opened: restart wfe"
        )

    drive(make_app(db), scenario)


def test_the_console_finishes_what_a_killed_worker_left(
    db: store.Store, make_app, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    add(
        db,
        f"""name: once
steps:
  - id: a
    run: |
      if [ ! -e {marker} ]; then touch {marker}; sleep 60; fi
  - id: b
    log: done
""",
    )
    (e,) = store.create_executions(db, store.get_workflow(db, "once"), [{}])
    worker = Wfe(db.url).start("worker")  # its lease: the default 15 s
    try:
        wait_until(lambda: any(r.pid for r in store.step_runs(db, e.id)), timeout=30)
    except BaseException:
        worker.kill()
        raise

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        assert store.get_execution(db, e.id).runner == worker_id
        worker.kill()  # SIGKILL: it records nothing
        worker.communicate(timeout=10)
        killed = time.monotonic()
        await wait_for(pilot, lambda: store.get_execution(db, e.id).status == "succeeded", 30)
        took.append(time.monotonic() - killed)

    worker_id = store.get_execution(db, e.id).runner
    took: list[float] = []
    try:
        drive(make_app(db), scenario)
    finally:
        worker.kill()
    assert took[0] < 10, took  # well within the worker's lease: its process is known gone
    done = store.get_execution(db, e.id)
    assert done.runner is not None and done.runner.startswith("console:")
    assert [(r.step_id, r.attempt, r.status) for r in store.step_runs(db, e.id)] == [
        ("a", 1, "failed"),
        ("a", 2, "succeeded"),
        ("b", 1, "succeeded"),
    ]
