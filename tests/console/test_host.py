"""How the console's host interleaves the engine (trio, as a guest) with the UI."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

from console.host import GivesWay


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
