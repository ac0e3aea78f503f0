"""The trio executor hosted in trio's guest mode on Textual's asyncio loop.

Both share one thread, so nothing needs a lock. The UI asks the engine for work through
the trio token (``run_sync_soon``); the engine tells the UI through callbacks that the
app schedules with ``call_later``. Stopping cancels trio's root scope: the executions it
was running are recorded ``cancelled`` before :meth:`EngineHost.stop` returns.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from engine import runtime, store
from engine.errors import EngineError
from engine.runtime import scheduler
from engine.status import RunnerKind

# The embedded executor commits in fewer, larger batches than a worker's: its writer
# thread then takes the GIL from the UI less often. Views poll the store every 0.1-1 s.
GATHER = 0.05


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


class EngineHost:
    def __init__(
        self,
        db: store.Store,
        *,
        on_crash: Callable[[BaseException], None],
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self.db = db
        self._busy = busy
        self._on_crash = on_crash
        self._executor: runtime.Executor | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._root = trio.CancelScope()
        self._ready = asyncio.Event()
        self._done = asyncio.Event()
        self.running = False
        self.session = runtime.RunnerSession(db, RunnerKind.CONSOLE, concurrency=50)

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.running = True
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
        if not self.running:
            return
        if self._token is not None:
            self._token.run_sync_soon(self._root.cancel)
        await self._done.wait()

    async def _main(self) -> None:
        me = self.session
        with self._root:
            async with (
                me.open(),
                runtime.open_executor(self.db, session=me, gather=GATHER) as ex,
                trio.open_nursery() as nursery,
            ):
                self._executor = ex
                self._nursery = nursery
                self._token = trio.lowlevel.current_trio_token()
                nursery.start_soon(lambda: me.keep_alive(on_lost=lambda exc: self._root.cancel()))
                nursery.start_soon(scheduler.run, self.db, me.id)
                nursery.start_soon(self._run_queued, ex)
                self._ready.set()
                await trio.sleep_forever()

    async def _run_queued(self, ex: runtime.Executor) -> None:
        """With no worker alive, the console runs what is queued (schedules included)."""
        while True:
            await trio.sleep(0.5)
            try:
                if await trio.to_thread.run_sync(lambda: store.live_runners(self.db)):
                    continue
                await self.session.claim(ex)
            except EngineError:
                continue

    def _finished(self, outcome: Any) -> None:
        self.running = False
        self._executor = None
        self._ready.set()
        self._done.set()
        error = getattr(outcome, "error", None)
        if error is not None and not isinstance(error, trio.Cancelled):
            self._on_crash(error)

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

    def cancel(self, execution_id: int) -> bool:
        """Cancel an execution this console runs; False if it is not one of them."""
        if self._executor is None:
            return False
        return self._executor.cancel(execution_id, "cancelled from the console")
