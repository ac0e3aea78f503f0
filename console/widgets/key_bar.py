"""The bottom line: the keys of the screen and of the focused widget.

Textual's own ``Footer`` composes a widget per key and rebuilds them whenever the
bindings change — on every view switch and every focus change, which cost more than
everything else a key press does. This is one ``Static`` whose text is recomputed then,
and written only when it differs.
"""

from __future__ import annotations

from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static


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

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        seen: set[str] = set()
        keys: list[tuple[str, str, bool]] = []
        palette: tuple[str, str, bool] | None = None
        for key, (_node, binding, enabled, _tooltip) in screen.active_bindings.items():
            if key == self.app.COMMAND_PALETTE_BINDING and self.app.ENABLE_COMMAND_PALETTE:
                palette = (self.app.get_key_display(binding), binding.description, enabled)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            item = (self.app.get_key_display(binding), binding.description, enabled)
            # Help first: at 80 columns the line is cut, and `?` leads to all the rest.
            if binding.action == "help":
                keys.insert(0, item)
            else:
                keys.append(item)
        if palette is not None:
            keys.append(palette)
        shown = tuple(keys)
        if shown != self._shown:
            self._shown = shown
            self.update(self._render_keys(shown))

    def _render_keys(self, keys: tuple[tuple[str, str, bool], ...]) -> Content:
        parts: list[Content | tuple[str, str] | str] = []
        for key, description, enabled in keys:
            if parts:
                parts.append("  ")
            if enabled:
                parts.append((f" {key} ", "bold $footer-key-foreground"))
                parts.append(description)
            else:
                parts.append((f" {key} {description}", "dim"))
        return Content.assemble(*parts)
