"""The console: a thin App that registers themes, installs screens and binds the globals.

Screens ask for things by posting :mod:`console.messages`; the App opens screens and
runs :mod:`console.actions` for them. Everything a screen reads comes through the
:class:`~console.services.Services` it is handed.

The first frame comes before the store is open: the store (SQLAlchemy) and the engine
(trio, httpx) are imported and opened on a worker thread once the views are up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from typing import TYPE_CHECKING

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen

from console import actions, driver, palettes, pauses
from console import config as settings
from console.messages import (
    CancelExecution,
    DecideApproval,
    OpenExecution,
    OpenWorkflow,
    RerunExecution,
    RunWorkflow,
)
from console.modals.command import CommandModal
from console.modals.help import HelpModal
from console.screens.base import View
from console.screens.dashboard import DashboardScreen
from console.screens.execution_detail import ExecutionDetailScreen
from console.screens.executions import ExecutionsScreen
from console.screens.health import HealthScreen
from console.screens.paged import PagedList
from console.screens.workflow_detail import WorkflowDetailScreen
from console.screens.workflows import WorkflowsScreen
from console.services import Services
from engine import memory
from engine.errors import EngineError

if TYPE_CHECKING:
    from console.host import EngineHost
    from engine import store

logger = logging.getLogger(__name__)

KEY_PRIORITY = 0.3  # seconds after a key during which the UI goes before the engine
STYLESHEET = str(resources.files("themes").joinpath("console.tcss"))
VIEWS: dict[str, type[View]] = {
    "dashboard": DashboardScreen,
    "workflows": WorkflowsScreen,
    "executions": ExecutionsScreen,
    "health": HealthScreen,
}


class WorkflowConsole(App[int]):
    TITLE = "WorkflowEngine"
    CSS_PATH = STYLESHEET
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("colon", "command", "Go to", id="app.command", show=False),
        Binding("1", "switch_mode('dashboard')", "Dashboard", id="app.dashboard", show=False),
        Binding("2", "switch_mode('workflows')", "Workflows", id="app.workflows", show=False),
        Binding("3", "switch_mode('executions')", "Executions", id="app.executions", show=False),
        Binding("4", "switch_mode('health')", "Health", id="app.health", show=False),
    ]

    def __init__(
        self,
        db: store.Store | None = None,
        *,
        url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        memory: Callable[[], int] = memory.rss_bytes,
        health: Callable[[store.Store], store.Health] | None = None,
        config: settings.Config | None = None,
        embedded_executor: bool = True,
    ) -> None:
        """A console on ``db``, or on the store at ``url`` (opened after the first frame)."""
        # NO_COLOR (no-color.org): no colour at all, not Textual's default of greys. The
        # terminal's own colours (the ANSI theme) are then dropped by Textual's NoColor
        # filter, and what colour showed is shown by text style (the cursor reversed).
        self.colourless = "NO_COLOR" in os.environ
        super().__init__(ansi_color=True if self.colourless else None)
        self.embedded_executor = embedded_executor
        self.config = config if config is not None else settings.load()
        self.collector = pauses.CollectWhenIdle()
        self._db, self._url = db, url
        self.error: str | None = None  # why the store could not be opened
        self.services = Services(
            config=self.config,
            clock=clock,
            memory=memory,
            health=health,
            busy=self.key_just_pressed,
        )
        for name, view in VIEWS.items():
            self.add_mode(name, partial(view, self.services))
        for theme in palettes.load_themes():
            self.register_theme(theme)
        self.theme = (
            "wfe-ansi"
            if self.colourless
            else self.config.theme
            if self.config.theme in self.available_themes
            else settings.DEFAULT_THEME
        )
        if self.colourless:
            self.add_class("-no-color")
        if self.config.keys:
            self.set_keymap(self.config.keys)

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver, or on Linux terminals its twin that delivers Esc at once."""
        chosen = super().get_driver_class()
        if chosen.__name__ == "LinuxDriver":
            return driver.driver_class() or chosen
        return chosen

    @property
    def host(self) -> EngineHost | None:
        """The embedded executor's host, once the store is open (if this console runs one)."""
        return self.services.host

    def on_mount(self) -> None:
        if self._db is not None:
            self._store_opened(self._db)
        else:
            self.run_worker(self._open_store(), group="store")
        self.switch_mode("dashboard")
        self.call_after_refresh(self.collector.start)
        self.set_interval(1.0, self.collector.tick)
        if self.config.problem:
            self.notify(self.config.problem, severity="warning")

    def key_just_pressed(self) -> bool:
        """Whether a key came in the last KEY_PRIORITY seconds: its work goes first."""
        return time.monotonic() - self.collector.last_input < KEY_PRIORITY

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self.collector.last_input = time.monotonic()
        await super().on_event(event)

    def on_unmount(self) -> None:
        self.collector.stop()

    def delay_update(self, delay: float = 0.05) -> None:
        """Hold the screen back only briefly on a view switch.

        Textual holds output for 50 ms on every mode switch to mask the new screen being
        built: the whole of a key press's latency. Our views are built once and come back
        drawn (their styles and rows kept, see ``console.screens.base``), so one frame
        (about 16 ms) hides the rest.
        """
        super().delay_update(min(delay, 1 / 60))

    def watch_theme(self, theme: str) -> None:
        if theme != self.config.theme and not self.colourless:
            self.config.theme = theme
            settings.save(self.config)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for name in ("wfe-dark", "wfe-light", "wfe-ansi"):
            yield SystemCommand(
                f"Theme: {name}",
                f"Use the {name} palette (remembered)",
                partial(setattr, self, "theme", name),
            )
        for view in VIEWS:
            yield SystemCommand(
                f"Go to: {view}", f"Show the {view} view", partial(self.switch_mode, view)
            )

    async def _open_store(self) -> None:
        def open_store() -> store.Store:
            from engine import store

            assert self._url is not None
            return store.open_store(self._url)

        try:
            db = await asyncio.to_thread(open_store)
        except EngineError as exc:
            from console.store_error import StoreErrorScreen

            self.error = str(exc)
            await self.push_screen(StoreErrorScreen(self.error))
            return
        self._db = db
        self._store_opened(db)

    def close_store(self) -> None:
        """Close the store this console opened (not one it was handed)."""
        if self._db is not None and self._url is not None:
            self._db.close()

    def _store_opened(self, db: store.Store) -> None:
        host = None
        if self.embedded_executor:
            from console.host import EngineHost

            host = EngineHost(db, on_crash=self._engine_crashed, busy=self.key_just_pressed)
            host.start()
        self.services.attach(db, host)

    def _engine_crashed(self, error: BaseException) -> None:
        logger.error("the embedded executor stopped", exc_info=error)
        self.call_later(
            self.notify, f"The embedded executor stopped: {error}", severity="error", timeout=30
        )

    async def action_quit(self) -> None:
        if self.host is not None:
            await self.host.stop()
        code = 1 if self.error else 0
        self.exit(code, return_code=code)

    # -- what screens ask for -------------------------------------------------------------

    def on_open_execution(self, message: OpenExecution) -> None:
        self.push_screen(ExecutionDetailScreen(self.services, message.execution_id))

    def on_open_workflow(self, message: OpenWorkflow) -> None:
        self.push_screen(WorkflowDetailScreen(self.services, message.name))

    def on_run_workflow(self, message: RunWorkflow) -> None:
        self._act(actions.run_workflow(self, self.services, message.name, message.defaults))

    def on_rerun_execution(self, message: RerunExecution) -> None:
        self._act(actions.rerun(self, self.services, message.execution_id))

    def on_cancel_execution(self, message: CancelExecution) -> None:
        self._act(actions.cancel(self, self.services, message.execution_id))

    def on_decide_approval(self, message: DecideApproval) -> None:
        self._act(
            actions.decide(
                self, self.services, message.execution_id, message.step_id, message.approve
            )
        )

    def _act(self, work: object) -> None:
        async def then_refresh() -> None:
            await work  # type: ignore[misc]
            screen = self.screen
            if isinstance(screen, View):
                screen.refresh_data(force=True)

        self.run_worker(then_refresh(), group="actions")

    # -- navigation -----------------------------------------------------------------------

    def action_command(self) -> None:
        async def go(choice: tuple[str, str | None] | None) -> None:
            if choice is None:
                return
            view, argument = choice
            await self.switch_mode(view)
            if isinstance(self.screen, PagedList):
                self.screen.show_filter(argument)

        self.push_screen(CommandModal(), go)

    def action_help(self) -> None:
        screen = self.screen
        rows: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for binding in [*getattr(screen, "BINDINGS", []), *self.BINDINGS]:
            if not isinstance(binding, Binding) or binding.id in seen:
                continue
            seen.add(binding.id or binding.key)
            key = self._keymap.get(binding.id or "", binding.key) if binding.id else binding.key
            rows.append((key, binding.description or binding.action, binding.id or ""))
        rows.append(("ctrl+p", "Command palette (themes, screens)", ""))
        self.push_screen(HelpModal(type(screen).__name__.removesuffix("Screen"), rows))
