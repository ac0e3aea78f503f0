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
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Input

from console import actions, driver, palettes, pauses
from console import config as settings
from console.messages import (
    CancelExecution,
    CancelExecutions,
    DecideApproval,
    MarkStep,
    OpenExecution,
    OpenTimeline,
    OpenWorkflow,
    RerunExecution,
    RerunExecutions,
    RerunStep,
    RunWorkflow,
)
from console.modals.command import CommandModal
from console.modals.help import HelpScreen
from console.screens.base import View
from console.screens.dashboard import DashboardScreen
from console.screens.execution_detail import ExecutionDetailScreen
from console.screens.executions import ExecutionsScreen
from console.screens.health import HealthScreen
from console.screens.paged import PagedList
from console.screens.workflow_detail import WorkflowDetailScreen
from console.screens.workflows import WorkflowsScreen
from console.services import Services
from engine import contexts, memory
from engine.errors import EngineError

if TYPE_CHECKING:
    from console.host import EngineHost
    from engine import store

logger = logging.getLogger(__name__)

TYPING_ACTIONS = {"filter", "search"}  # actions that open a text box (see _opens_typing)
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
        read_only: bool = False,
        context: str = "default",
    ) -> None:
        """A console on ``db``, or on the store at ``url`` (opened after the first frame)."""
        # NO_COLOR (no-color.org): no colour at all, not Textual's default of greys. The
        # terminal's own colours (the ANSI theme) are then dropped by Textual's NoColor
        # filter, and what colour showed is shown by text style (the cursor reversed).
        self.colourless = "NO_COLOR" in os.environ
        super().__init__(ansi_color=True if self.colourless else None)
        self.read_only = read_only  # look, do not touch: no writes, no work run here
        self.embedded_executor = embedded_executor and not read_only
        self.config = config if config is not None else settings.load()
        self.collector = pauses.CollectWhenIdle()
        self._db, self._url = db, url
        self.error: str | None = None  # why the store could not be opened
        self.context = context  # the store's name (engine.contexts)
        self.switch_to: str | None = None  # a context to reopen on, once this one closes
        self.services = Services(
            config=self.config,
            clock=clock,
            memory=memory,
            health=health,
            busy=self.key_just_pressed,
            read_only=read_only,
            context=context,
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
        self.set_timer(0.5, self._warm_styles)
        self.set_interval(1.0, self.collector.tick)
        if self.config.problem:
            self.notify(self.config.problem, severity="warning")

    def _warm_styles(self) -> None:
        """Add the graph widget's styles once the console is up, not when ``D`` is first
        pressed: the first widget of a class makes Textual parse every stylesheet again
        (tens of ms), which would otherwise land on that key."""
        from console.widgets.graph import GraphView

        default_css = getattr(GraphView(), "_get_default_css", None)  # Textual's own
        if default_css is None:
            return
        for read_from, css, tie_breaker, scope in default_css():
            self.stylesheet.add_source(
                css, read_from=read_from, is_default_css=True, tie_breaker=tie_breaker, scope=scope
            )

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification as plain text: they carry names, errors and prompts, and a
        ``[`` in one must show as it is (Widget.notify asks for markup by default)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def key_just_pressed(self) -> bool:
        """Whether a key came in the last KEY_PRIORITY seconds: its work goes first."""
        return time.monotonic() - self.collector.last_input < KEY_PRIORITY

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self.collector.last_input = time.monotonic()
        if isinstance(event, events.Key) and await self._opens_typing(event):
            return
        await super().on_event(event)

    async def _opens_typing(self, event: events.Key) -> bool:
        """Run a key that opens a text box (``/``) here and now, not as Textual would.

        Textual hands a key to the focused widget's queue and goes on to the next: the
        keys that came in the same burst (a paste, keys bunched over SSH) would reach the
        list before the box was open, and run its commands (`/a` disabled a workflow).
        Run here, the action opens and focuses the box before the next key is looked at.
        """
        screen = self.screen
        if isinstance(screen.focused, Input):
            return False
        active = screen.active_bindings.get(event.key)
        if active is None or active.binding.action not in TYPING_ACTIONS or not active.enabled:
            return False
        event.stop()
        await self.run_action(active.binding.action, active.node)
        return True

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

            host = EngineHost(
                db,
                on_stop=self._engine_crashed,
                on_back=self._engine_back,
                busy=self.key_just_pressed,
            )
            host.start()
        self.services.attach(db, host)

    def _engine_crashed(self, why: str, restart_in: float | None) -> None:
        """The embedded executor stopped (the host logged how): say why, and what next."""
        then = "" if restart_in is None else f"; restarting in {restart_in:g}s"
        self.call_later(
            self.notify,
            f"The embedded executor stopped: {why}{then}",
            severity="error",
            timeout=30,
        )

    def _engine_back(self) -> None:
        self.call_later(self.notify, "The embedded executor is running again")

    async def action_quit(self) -> None:
        """Quit; with executions running here, first ask what becomes of them."""
        from console.modals.quit import QuitModal

        if isinstance(self.screen, QuitModal):
            return  # q again while it asks: the question stands
        host = self.host
        running, waiting = host.in_hand() if host is not None else (0, 0)
        if running:
            self.push_screen(QuitModal(running, waiting), self._quit_as)
            return
        await self._quit_as("cancel")

    async def _quit_as(self, choice: str | None) -> None:
        """Quit, leaving what runs here for the next runner or cancelling it (None: stay)."""
        if choice is None:
            self.switch_to = None  # staying: on this store too
            return
        if self.host is not None:
            await (self.host.leave() if choice == "leave" else self.host.stop())
        code = 1 if self.error else 0
        self.exit(code, return_code=code)

    # -- what screens ask for -------------------------------------------------------------

    def on_open_execution(self, message: OpenExecution) -> None:
        self.push_screen(ExecutionDetailScreen(self.services, message.execution_id))

    def on_open_timeline(self, message: OpenTimeline) -> None:
        from console.screens.timeline import TimelineScreen

        self.push_screen(TimelineScreen(self.services, message.execution_id))

    def on_open_workflow(self, message: OpenWorkflow) -> None:
        self.push_screen(WorkflowDetailScreen(self.services, message.name))

    def on_run_workflow(self, message: RunWorkflow) -> None:
        if self._refused("run"):
            return
        self._act(actions.run_workflow(self, self.services, message.name, message.defaults))

    def on_rerun_execution(self, message: RerunExecution) -> None:
        if self._refused("re-run"):
            return
        self._act(actions.rerun(self, self.services, message.execution_id))

    def on_rerun_executions(self, message: RerunExecutions) -> None:
        if self._refused("re-run"):
            return
        self._act(actions.rerun_many(self, self.services, message.execution_ids))

    def on_mark_step(self, message: MarkStep) -> None:
        if self._refused("mark a step"):
            return
        self._act(actions.mark_step(self, self.services, message.execution_id, message.step_id))

    def on_rerun_step(self, message: RerunStep) -> None:
        if self._refused("re-run"):
            return
        self._act(actions.rerun_step(self, self.services, message.execution_id, message.step_id))

    def on_cancel_execution(self, message: CancelExecution) -> None:
        if self._refused("cancel"):
            return
        self._act(actions.cancel(self, self.services, message.execution_id))

    def on_cancel_executions(self, message: CancelExecutions) -> None:
        if self._refused("cancel"):
            return
        self._act(actions.cancel_many(self, self.services, message.execution_ids))

    def on_decide_approval(self, message: DecideApproval) -> None:
        if self._refused("approve" if message.approve else "reject"):
            return
        self._act(
            actions.decide(
                self,
                self.services,
                message.execution_id,
                message.step_id,
                message.approve,
                message.reason,
            )
        )

    def _refused(self, what: str) -> bool:
        """In a read-only console, an action that writes is said to be off, not done."""
        if self.read_only:
            self.notify(f"This console is read-only: {what} is off", severity="warning")
        return self.read_only

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
            if view == "quit":
                await self.run_action("quit")
                return
            if view == "context":
                await self.switch_context(argument)
                return
            if view == "execution" and argument is not None:
                self.post_message(OpenExecution(int(argument)))
                return
            if view == "workflow" and argument is not None:
                self.post_message(OpenWorkflow(argument))
                return
            await self.switch_mode(view)
            if isinstance(self.screen, PagedList):
                self.screen.show_filter(argument)

        async def names() -> list[str]:
            page = await self.services.queries.workflows(offset=0, limit=500, search=None)
            return [summary.workflow.name for summary, _schedule in page.rows]

        self.push_screen(CommandModal(names, list(self._contexts())), go)

    def _contexts(self) -> dict[str, contexts.Context]:
        try:
            return contexts.load()
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return {}

    async def switch_context(self, name: str | None) -> None:
        """``:ctx``: choose a store from a list; ``:ctx NAME``: close this one, open that.

        The console reopens on it in the same process (``console.main.run``); work
        running here is asked about first, as when quitting.
        """
        from console.modals.contexts import ContextModal

        known = self._contexts()
        if name is None:
            if known:
                self.push_screen(ContextModal(known, self.context), self._switch_to)
            return
        if name not in known:
            self.notify(
                f"There is no context {name!r}; known: {', '.join(known)}", severity="error"
            )
            return
        await self._switch_to(name)

    async def _switch_to(self, name: str | None) -> None:
        if name is None:
            return
        if name == self.context:
            self.notify(f"This console is on {name} already")
            return
        self.switch_to = name
        await self.run_action("quit")

    def action_help(self) -> None:
        """List the keys of the screen underneath, then the App's, each as remapped."""
        screen = self.screen
        rows: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        # A screen's own BINDINGS first, then those it inherits from the console's classes
        # (Textual's Screen adds Tab and copy, which have no id to remap them by).
        inherited = [
            b
            for cls in type(screen).__mro__
            if cls.__module__.startswith("console.")
            for b in vars(cls).get("BINDINGS", [])
        ]
        for binding in [*inherited, *self.BINDINGS]:
            if not isinstance(binding, Binding) or (binding.id or binding.key) in seen:
                continue
            seen.add(binding.id or binding.key)
            key = self._keymap.get(binding.id or "", binding.key) if binding.id else binding.key
            rows.append((key, binding.description or binding.action, binding.id or ""))
        rows.append((self.COMMAND_PALETTE_BINDING, "Command palette (themes, screens)", ""))
        # ExecutionDetailScreen is "Execution detail", as a person would name it.
        name = type(screen).__name__.removesuffix("Screen")
        words = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
        self.push_screen(HelpScreen(words.capitalize(), rows))
