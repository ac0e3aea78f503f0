"""A view's first line: which store it shows (its context), then what the view says.

Every view starts with one, so the store you are on is never in doubt: ``default │``,
``prod · read-only │``. What follows is plain text or Rich ``Text``, never markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class Title(Static):
    def __init__(self, context: str, content: str | Text = "", **kwargs: object) -> None:
        self.context = context
        super().__init__(self._line(content), markup=False, **kwargs)  # type: ignore[arg-type]

    def _line(self, content: str | Text) -> Text:
        line = Text(self.context, style="bold")
        line.append(" │ ", style="dim")
        line.append_text(content if isinstance(content, Text) else Text(content))
        return line

    def update(self, content: object = "", *, layout: bool = True) -> None:
        if isinstance(content, str | Text):
            content = self._line(content)
        super().update(content, layout=layout)  # type: ignore[arg-type]
