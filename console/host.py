"""The trio executor hosted in trio's guest mode on Textual's asyncio loop.

Both share one thread, so nothing needs a lock. The UI asks the engine for work through
the trio token (``run_sync_soon``); the engine tells the UI through callbacks that the
app schedules with ``call_later``. Stopping cancels trio's root scope: the executions it
was running are recorded ``cancelled`` before :meth:`EngineHost.stop` returns, unless
:meth:`EngineHost.leave` handed them to the next runner first.

The executor lives as a runner session; when the session ends on its own (its lease
lost to a store out of reach, or an error) the host says why and starts a new session
after a backoff, for as long as the console is open. A store file moved or replaced
under it is the exception: a new session would write to the orphaned file, so it stays
stopped and says to restart wfe.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import trio

from engine import runtime, store
from engine.errors import EngineError
from engine.runtime import scheduler
from engine.status import RunnerKind
from engine.steps import processes
from engine.store import overview

logger = logging.getLogger(__name__)

# The embedded executor commits in fewer, larger batches than a worker's: its writer
# thread then takes the GIL from the UI less often. Views poll the store every 0.1-1 s.
GATHER = 0.05
CONCURRENCY = 50
BACKOFF_FIRST, BACKOFF_MOST = 1.0, 30.0  # seconds before a stopped executor starts again


class GivesWay:
    """Runs trio's guest-mode callbacks on the host loop, in order; later while keys come.

    Each callback runs a slice of the engine. While ``busy()`` (a key was just pressed)
    they wait ``delay`` seconds, so what the key set off in the UI runs first instead of
    taking turns with the engine; otherwise they run as soon as the loop can.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, busy: Callable[[], bool], delay: float = 0.004
    ) -> None:
        self._loop = loop
        self._busy = busy
        self._delay = delay
        self._queue: deque[Callable[[], object]] = deque()
        self._lock = threading.Lock()
        self._armed = False

    def run_soon(self, fn: Callable[[], object]) -> None:
        """Thread-safe, as trio's guest mode requires."""
        with self._lock:
            self._queue.append(fn)
            if self._armed:
                return
            self._armed = True
        self._loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        if self._busy():
            self._loop.call_later(self._delay, self._drain)
        else:
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            batch = list(self._queue)
            self._queue.clear()
            self._armed = False
        for fn in batch:
            try:
                fn()
            except Exception as exc:  # as asyncio would: reported, the rest still run
                self._loop.call_exception_handler({"message": "trio callback", "exception": exc})


@dataclass(frozen=True)
class HostState:
    """Whether the embedded executor runs; if not, why, and when it tries again."""

    running: bool
    stopped: str | None = None  # why it is not running
    restart_in: float | None = None  # seconds until it starts again (None: it will not)


class EngineHost:
    """The embedded executor: one trio guest run for the console's life, one runner
    session at a time inside it."""

    def __init__(
        self,
        db: store.Store,
        *,
        on_stop: Callable[[str, float | None], None],
        on_back: Callable[[], None],
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self.db = db
        self._busy = busy
        self._on_stop = on_stop  # why, and in how many seconds it starts again (None: never)
        self._on_back = on_back
        self._executor: runtime.Executor | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None  # the session's, for the UI's requests
        self._sessions: trio.Nursery | None = None  # outside any session: for leave()
        self._claims = trio.Lock()  # one round of claims at a time; leave() waits for it
        self._leaving = False
        self._root = trio.CancelScope()
        self._ready = asyncio.Event()
        self._done = asyncio.Event()
        self._stopped: str | None = None
        self._restart_at: float | None = None  # time.monotonic() of the next start
        self.alive = False  # the guest run: until stop() or a store replaced
        self.session = self._new_session()

    def _new_session(self) -> runtime.RunnerSession:
        return runtime.RunnerSession(self.db, RunnerKind.CONSOLE, concurrency=CONCURRENCY)

    @property
    def running(self) -> bool:
        """Whether the executor runs now (not between a stop and its restart)."""
        return self._executor is not None

    def state(self) -> HostState:
        if self.running:
            return HostState(True)
        if self._restart_at is None:
            return HostState(False, self._stopped or "stopped")
        left = max(0.0, self._restart_at - time.monotonic())
        return HostState(False, self._stopped, left)

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.alive = True
        gives_way = GivesWay(loop, self._busy)
        trio.lowlevel.start_guest_run(
            self._main,
            run_sync_soon_threadsafe=gives_way.run_soon,
            run_sync_soon_not_threadsafe=gives_way.run_soon,
            done_callback=self._finished,
            host_uses_signal_set_wakeup_fd=True,
            restrict_keyboard_interrupt_to_checkpoints=True,
        )

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def stop(self) -> None:
        """Cancel everything the embedded executor runs and wait until it is recorded."""
        if not self.alive:
            return
        if self._token is not None:
            self._token.run_sync_soon(self._root.cancel)
        await self._done.wait()

    async def leave(self) -> None:
        """Stop, leaving what runs here for the next runner, which takes it over at once.

        The session hands its executions back first (see
        :meth:`~engine.runtime.RunnerSession.release`), so the cancelling that stopping
        does records nothing. If the store takes no write, they are cancelled as by
        :meth:`stop` (logged): a console that quits must not hang.
        """
        if not self.alive or self._token is None or self._sessions is None:
            return
        session, root, sessions = self.session, self._root, self._sessions

        async def hand_over() -> None:
            try:
                # After the round of claims under way (or it could take them back).
                async with self._claims:
                    self._leaving = True
                    left = await session.release()
            except EngineError as exc:
                logger.warning("could not leave this console's executions queued: %s", exc)
            else:
                logger.info("left execution(s) %s for the next runner", sorted(left))
            root.cancel()

        self._token.run_sync_soon(lambda: sessions.start_soon(hand_over))
        await self._done.wait()

    def in_hand(self) -> tuple[int, int]:
        """The executions running here, and how many of them wait for an approval."""
        ex = self._executor
        if ex is None:
            return 0, 0
        s = ex.statistics()
        total = s.running + s.queued
        return total, total - ex.busy()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        delay = BACKOFF_FIRST
        with self._root:
            async with trio.open_nursery() as sessions:
                self._sessions = sessions
                while True:
                    began = trio.current_time()
                    why = await self._serve()
                    if self.db.replaced():
                        self._stopped, self._restart_at = overview.REPLACED, None
                        self.alive = False
                        self._on_stop(overview.REPLACED, None)
                        self._ready.set()
                        return
                    if trio.current_time() - began > BACKOFF_MOST:
                        delay = BACKOFF_FIRST  # it ran a while: this is a new trouble
                    first = self._restart_at is None
                    self._stopped, self._restart_at = why, time.monotonic() + delay
                    if first:  # said once; the attempts that fail after show in Health
                        self._on_stop(why, delay)
                    self._ready.set()
                    await trio.sleep(delay)
                    delay = min(delay * 2, BACKOFF_MOST)
                    self.session = self._new_session()

    async def _serve(self) -> str:
        """Run one runner session until it ends on its own; why it ended."""
        me = self.session
        lost: list[EngineError] = []
        try:
            with trio.CancelScope() as scope:

                def on_lost(exc: EngineError) -> None:
                    lost.append(exc)
                    scope.cancel()

                async with (
                    me.open(),
                    runtime.open_executor(self.db, session=me, gather=GATHER) as ex,
                    trio.open_nursery() as nursery,
                ):
                    self._nursery = nursery
                    nursery.start_soon(lambda: me.keep_alive(on_lost=on_lost))
                    nursery.start_soon(scheduler.run, self.db, me.id)
                    nursery.start_soon(self._run_queued, ex)
                    self._executor = ex
                    if self._restart_at is not None:
                        self._stopped = self._restart_at = None
                        self._on_back()
                    self._ready.set()
                    await trio.sleep_forever()
        except Exception as exc:
            if lost:
                logger.warning("the embedded executor stopped on: %s", exc)
            else:
                logger.exception("the embedded executor stopped")
                leaf = _first_leaf(exc)
                return str(leaf) or type(leaf).__name__
        finally:
            self._executor = self._nursery = None
        return str(lost[0]) if lost else "it stopped"

    async def _run_queued(self, ex: runtime.Executor) -> None:
        """With no worker alive, the console runs what is queued (schedules included),
        and takes over what dead runners left."""
        while True:
            await trio.sleep(0.5)
            try:
                live = await trio.to_thread.run_sync(lambda: store.live_runners(self.db))
                if [w for w in live if not _gone(w)]:
                    continue
                async with self._claims:
                    if self._leaving:
                        return
                    await self.session.adopt(ex)
                    await self.session.claim(ex)
            except EngineError:
                continue

    def _finished(self, outcome: Any) -> None:
        self.alive = False
        self._executor = None
        self._ready.set()
        self._done.set()
        error = getattr(outcome, "error", None)
        if error is not None and not isinstance(error, trio.Cancelled):
            logger.error("the embedded executor's host stopped", exc_info=error)
            self._stopped, self._restart_at = str(error), None
            self._on_stop(str(error), None)

    # -- requests from the UI -------------------------------------------------------

    def statistics(self) -> runtime.ExecutorStatistics | None:
        return self._executor.statistics() if self._executor is not None else None

    def submit(self, job: Callable[[runtime.Executor], Awaitable[None]]) -> bool:
        if self._token is None or self._nursery is None or self._executor is None:
            return False
        ex, nursery = self._executor, self._nursery
        self._token.run_sync_soon(lambda: nursery.start_soon(job, ex))
        return True

    def start_execution(
        self,
        name: str,
        params: Mapping[str, Any],
        reply: Callable[[int | EngineError], None],
    ) -> bool:
        async def job(ex: runtime.Executor) -> None:
            try:
                handle = await ex.start(name, params, trigger="console")
            except EngineError as exc:
                reply(exc)
            else:
                reply(handle.id)

        return self.submit(job)

    def resume_execution(
        self, execution_id: int, reply: Callable[[int | EngineError], None]
    ) -> bool:
        """Run here an execution queued with results it keeps (a re-run of one step)."""

        async def job(ex: runtime.Executor) -> None:
            import trio

            try:
                await trio.to_thread.run_sync(store.assign, ex.store, execution_id, ex.owner)
                handle = await ex.start_existing(execution_id, resume=True)
            except EngineError as exc:
                reply(exc)
            else:
                reply(handle.id)

        return self.submit(job)

    def cancel(self, execution_id: int) -> bool:
        """Cancel an execution this console runs; False if it is not one of them."""
        if self._executor is None:
            return False
        return self._executor.cancel(execution_id, "cancelled from the console")


def _gone(runner: store.Runner) -> bool:
    """A worker on this host whose process has ended is dead now, whatever its lease says
    (a worker killed with SIGKILL never says it stopped)."""
    return runner.host == processes.HOST and processes.gone(runner.pid, runner.started_at)


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
