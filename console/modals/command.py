"""``:`` jumps anywhere: ``:executions failed``, ``:runs failed backup``, ``:workflows
backup``, ``:health``; ``:e 3`` (or ``:exec 3``) opens execution 3, ``:wf backup`` the
workflow backup, ``:q`` quits. Up and Down walk back through what was typed before (for
this process); a view's or a workflow's name is offered as you type (→ takes it).
``:ctx`` lists the stores named in config.toml and ``:ctx NAME`` switches to one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

VIEWS = ("dashboard", "workflows", "executions", "health")
QUIT = ("q", "quit")
CONTEXT = ("ctx", "context", "contexts")
# Words that name one thing rather than a view: what they open.
ONE = {"e": "execution", "exec": "execution", "execution": "execution"}
ONE |= {"wf": "workflow", "workflow": "workflow"}
ALIASES = {"runs": "executions"}
HISTORY_KEPT = 50


def parse(text: str) -> tuple[str, str | None]:
    """What a command names and its argument; ValueError says what is wrong.

    The view is "execution" (with the id as argument) for ``:e 3``, ``:exec 3`` or
    ``:executions 3``, "workflow" (with a name) for ``:wf NAME``, and "quit" for ``:q``.
    """
    words = text.strip().lstrip(":").split(maxsplit=1)
    if not words:
        raise ValueError("type a view: " + ", ".join(VIEWS))
    word, argument = words[0].lower(), (words[1].strip() if len(words) > 1 else None)
    if word in QUIT and argument is None:
        return "quit", None
    if word in CONTEXT:
        return "context", argument
    one = ONE.get(word)
    if one == "execution" or (one is None and word.startswith("exe")):
        if argument is not None and argument.lstrip("#").isdigit():
            return "execution", argument.lstrip("#")
        if one is not None:
            raise ValueError(f"which execution? e.g. :{word} 12")
    if one == "workflow":
        if not argument:
            raise ValueError(f"which workflow? e.g. :{word} backup")
        return "workflow", argument
    word = ALIASES.get(word, word)
    matches = [v for v in VIEWS if v.startswith(word)]
    if len(matches) != 1:
        raise ValueError(f"no view {words[0]!r}; views: {', '.join(VIEWS)}, or q to quit")
    return matches[0], argument


class CommandModal(ModalScreen[tuple[str, str | None] | None]):
    """The command line. ``names`` reads the workflows' names (offered as you type)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="command.cancel"),
        Binding("up", "history(-1)", "Earlier command", id="command.earlier", show=False),
        Binding("down", "history(1)", "Later command", id="command.later", show=False),
    ]
    history: ClassVar[list[str]] = []  # what was typed, oldest first

    def __init__(
        self,
        names: Callable[[], Awaitable[list[str]]] | None = None,
        contexts: list[str] | None = None,
    ) -> None:
        super().__init__()
        self._names = names
        self._contexts = contexts or []
        self._place = len(self.history)  # where Up and Down are in the history

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Static(
                "Go to a view (executions failed, workflows backup); e 12 opens"
                " execution 12, wf NAME a workflow, ctx another store, q quits; ↑ ↓ history",
                classes="hint",
            )
            yield Input(
                placeholder=":",
                id="command-input",
                suggester=SuggestFromList(self._words([]), case_sensitive=False),
            )
            yield Static("", id="error", classes="error", markup=False)

    def on_mount(self) -> None:
        if self._names is not None:
            self.run_worker(self._offer_names(), group="names")

    async def _offer_names(self) -> None:
        assert self._names is not None
        try:
            names = await self._names()
        except Exception:  # the store out of reach: views are still offered
            return
        box = self.query_one(Input)
        box.suggester = SuggestFromList(self._words(names), case_sensitive=False)

    def _words(self, names: list[str]) -> list[str]:
        views = [*VIEWS, "runs", "quit", "ctx"]
        return [
            *views,
            *(f"ctx {c}" for c in self._contexts),
            *(f"wf {n}" for n in names),
            *(f"runs {n}" for n in names),
        ]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            choice = parse(event.value)
        except ValueError as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        typed = event.value.strip()
        if typed and (not self.history or self.history[-1] != typed):
            self.history.append(typed)
            del self.history[:-HISTORY_KEPT]
        self.dismiss(choice)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._place = max(0, min(len(self.history), self._place + step))
        box = self.query_one(Input)
        box.value = self.history[self._place] if self._place < len(self.history) else ""
        box.cursor_position = len(box.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
