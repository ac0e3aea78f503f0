"""The console: a thin App that registers themes, installs screens and binds the globals."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from importlib import resources
from typing import ClassVar
from zoneinfo import ZoneInfo

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen
from textual.widgets import Static

from console import config as settings
from console import driver, palettes, pauses
from console.host import EngineHost
from console.screens.dashboard import DashboardScreen
from console.screens.execution_detail import ExecutionDetailScreen
from console.screens.executions import ExecutionsScreen
from console.screens.health import HealthScreen
from console.screens.workflow_detail import WorkflowDetailScreen
from console.screens.workflows import WorkflowsScreen
from console.widgets.command_modal import CommandModal
from console.widgets.confirm_modal import ConfirmModal
from console.widgets.help_modal import HelpModal
from console.widgets.params_modal import ParamsModal
from engine import definition, memory, status, store
from engine.errors import EngineError
from engine.runtime import scheduler
from engine.status import ExecutionStatus

KEY_PRIORITY = 0.3  # seconds after a key during which the UI goes before the engine
STYLESHEET = str(resources.files("themes").joinpath("console.tcss"))


class WorkflowConsole(App[int]):
    TITLE = "WorkflowEngine"
    CSS_PATH = STYLESHEET
    MODES: ClassVar = {
        "dashboard": DashboardScreen,
        "workflows": WorkflowsScreen,
        "executions": ExecutionsScreen,
        "health": HealthScreen,
    }
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
        db: store.Store,
        *,
        clock: Callable[[], datetime] = store.utcnow,
        memory: Callable[[], int] = memory.rss_bytes,
        health: Callable[[store.Store], store.Health] = store.health,
        config: settings.Config | None = None,
        embedded_executor: bool = True,
    ) -> None:
        # NO_COLOR (no-color.org): no colour at all, not Textual's default of greys. The
        # terminal's own colours (the ANSI theme) are then dropped by Textual's NoColor
        # filter, and what colour showed is shown by text style (the cursor reversed).
        self.colourless = "NO_COLOR" in os.environ
        super().__init__(ansi_color=True if self.colourless else None)
        self.db = db
        self.clock = clock
        self.memory = memory
        self.health = health
        self.embedded_executor = embedded_executor
        self.config = config if config is not None else settings.load()
        self.collector = pauses.CollectWhenIdle()
        self.host = EngineHost(
            db,
            on_change=self._engine_changed,
            on_crash=self._engine_crashed,
            busy=self.key_just_pressed,
        )
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

    def on_mount(self) -> None:
        if self.embedded_executor:
            self.host.start()
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
        for view in self.MODES:
            yield SystemCommand(
                f"Go to: {view}", f"Show the {view} view", partial(self.switch_mode, view)
            )

    # -- engine ------------------------------------------------------------------------

    def _engine_changed(self) -> None:
        pass  # screens poll the store at their own pace; nothing to push per event

    def _engine_crashed(self, error: BaseException) -> None:
        self.call_later(
            self.notify, f"The embedded executor stopped: {error}", severity="error", timeout=30
        )

    async def action_quit(self) -> None:
        await self.host.stop()
        self.exit(0, return_code=0)

    # -- navigation -----------------------------------------------------------------------

    def open_workflow(self, name: str) -> None:
        self.push_screen(WorkflowDetailScreen(name))

    def open_execution(self, execution_id: int) -> None:
        self.push_screen(ExecutionDetailScreen(execution_id))

    def action_command(self) -> None:
        async def go(choice: tuple[str, str | None] | None) -> None:
            if choice is None:
                return
            view, argument = choice
            await self.switch_mode(view)
            screen = self.screen
            if isinstance(screen, ExecutionsScreen):
                status = argument if argument in {s.value for s in ExecutionStatus} else None
                workflow = argument if argument and status is None else None
                screen.set_filters(status, workflow)
            elif isinstance(screen, WorkflowsScreen):
                screen.search = argument
                screen.page_start = 0
                screen.refresh_data()

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

    # -- actions shared by screens ----------------------------------------------------------

    def definition(self, row: store.Workflow) -> definition.Workflow:
        """A workflow's parsed definition, parsed once per version."""
        return definition.parsed(row)

    def schedule_text(self, row: store.Workflow) -> str:
        if not row.schedule:
            return "-"
        try:
            schedule = self.definition(row).schedule
        except EngineError:
            return row.schedule
        if schedule is None:
            return "-"
        zone = ZoneInfo(schedule.timezone)
        upcoming = scheduler.next_tick(schedule, self.clock()).astimezone(zone)
        return f"{schedule.cron}  next {upcoming:%a %H:%M %Z}"

    def ask_and_run(self, name: str, defaults: dict[str, object] | None = None) -> None:
        try:
            row = store.get_workflow(self.db, name)
            wf = self.definition(row)
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return
        if not row.active:
            self.notify(f"{name} is disabled; press a to enable it", severity="warning")
            return

        def start(values: dict[str, object] | None) -> None:
            if values is None:
                return

            def reply(result: int | EngineError) -> None:
                if isinstance(result, EngineError):
                    self.call_later(self.notify, str(result), severity="error")
                else:
                    self.call_later(self.notify, f"Started execution {result} of {name}")

            if not self.config.run_in_console and store.live_runners(self.db):
                # Workers are alive: they run it, and it outlives this console.
                try:
                    queued = store.create_execution(self.db, row, values, trigger="console")
                except EngineError as exc:
                    self.notify(str(exc), severity="error")
                    return
                self.notify(f"Queued execution {queued.id} of {name} for the workers")
                return
            if not self.host.start_execution(name, values, reply):
                self.notify("The embedded executor is not running", severity="error")

        self.push_screen(ParamsModal(wf, defaults), start)

    def ask_and_cancel(self, execution_id: int) -> None:
        def answer(yes: bool | None) -> None:
            if not yes:
                return
            if self.host.cancel(execution_id):
                self.notify(f"Cancelling execution {execution_id}")
                return
            try:
                previous = store.request_cancel(self.db, execution_id)
            except EngineError as exc:
                self.notify(str(exc), severity="error")
                return
            if previous in status.FINISHED:
                self.notify(
                    f"Execution {execution_id} had already finished ({previous})",
                    severity="warning",
                )
            elif previous == "queued":
                self.notify(f"Execution {execution_id} cancelled")
            else:
                self.notify(
                    f"Cancel requested; its runner stops execution {execution_id} within seconds"
                )

        self.push_screen(ConfirmModal(f"Cancel execution {execution_id}?", yes="Cancel it"), answer)

    def rerun(self, execution_id: int) -> None:
        try:
            e = store.get_execution(self.db, execution_id)
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return
        self.ask_and_run(e.workflow_name, dict(e.params))


class StoreErrorApp(App[int]):
    """Shown when the store cannot be opened: the reason, then any key quits (exit 1)."""

    BINDINGS = [Binding("q,escape,enter", "leave", "Quit", id="error.quit")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        yield Static(
            f"[b]wfe cannot open its store[/b]\n\n{self.message}\n\nPress q to quit.",
            id="store-error",
        )

    def on_key(self) -> None:
        self.exit(1, return_code=1)

    def action_leave(self) -> None:
        self.exit(1, return_code=1)


def run(url: str) -> int:
    """Open the console on the store at ``url``; the process's exit status."""
    try:
        db = store.open_store(url)
    except EngineError as exc:
        StoreErrorApp(str(exc)).run()
        return 1
    try:
        code = WorkflowConsole(db).run()
    finally:
        db.close()
    return code or 0


def _screens() -> list[type[Screen[None]]]:
    return [DashboardScreen, WorkflowsScreen, ExecutionsScreen, HealthScreen]
