"""The bottom line: the keys of the screen and of the focused widget.

Textual's own ``Footer`` composes a widget per key and rebuilds them whenever the
bindings change — on every view switch and every focus change, which cost more than
everything else a key press does. This is one ``Static`` whose text is recomputed then,
and written only when it differs.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static

from console import keys


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        width: 1fr;
        background: $footer-background;
        color: $footer-description-foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self) -> None:
        super().__init__("", markup=False)
        self._shown: tuple[tuple[str, str, bool], ...] = ()

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self._bindings_changed, self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def on_resize(self) -> None:
        self._shown = ()
        self._bindings_changed(self.screen)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        seen: set[str] = set()
        own: list[Key] = []  # the screen's (and the focused widget's) keys
        app: list[Key] = []  # the App's: help and quit
        palette: Key | None = None
        for key, (node, binding, enabled, _tooltip) in screen.active_bindings.items():
            if key == self.app.COMMAND_PALETTE_BINDING and self.app.ENABLE_COMMAND_PALETTE:
                palette = (self.app.get_key_display(binding), "palette", enabled)
                continue
            if not binding.show or binding.action in seen:
                continue
            if getattr(self.app, "read_only", False) and keys.writes(binding.action):
                continue  # a read-only console offers no action that writes
            seen.add(binding.action)
            item = (self.app.get_key_display(binding), binding.description, enabled)
            (app if node is self.app else own).append(item)
        shown = fitted(own, app, palette, self.size.width or self.app.size.width)
        if shown != self._shown:
            self._shown = shown
            self.update(self._render_keys(shown))

    def _render_keys(self, keys: tuple[Key, ...]) -> Content:
        parts: list[Content | tuple[str, str] | str] = []
        for key, description, enabled in keys:
            if parts:
                parts.append(GAP)
            if enabled:
                parts.append((f" {key} ", "bold $footer-key-foreground"))
                parts.append(description)
            else:
                parts.append((f" {key} {description}", "dim"))
        return Content.assemble(*parts)


Key = tuple[str, str, bool]  # as shown, its description, whether it can be used now
GAP = "  "


def fitted(own: list[Key], app: list[Key], palette: Key | None, width: int) -> tuple[Key, ...]:
    """The keys that fit in ``width``, whole: the screen's own first, in their order, then
    the App's. When some do not fit, the last of the screen's go, and help says there
    are more (it lists them all)."""

    def cells(keys: list[Key]) -> int:
        return sum(cell_len(f" {k} {d}") + 1 for k, d, _ in keys) + len(GAP) * (len(keys) - 1)

    everything = [*own, *app, *([palette] if palette else [])]
    if cells(everything) <= width:
        return tuple(everything)
    tail = [(k, "More keys" if d == "Help" else d, e) for k, d, e in app]
    kept = list(own)
    while kept and cells([*kept, *tail]) > width:
        kept.pop()
    return tuple([*kept, *tail])
