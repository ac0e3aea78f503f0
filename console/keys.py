"""Keys written as a person writes them: ``?`` and ``Esc``, not ``question_mark`` and ``escape``.

Textual names a key by its Unicode name (``right_square_bracket``) and keeps those names in
bindings and in the keymap; help shows what is printed on the keyboard instead.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.keys import format_key

# Keys whose Textual name is not what a keyboard or a manual calls them.
NAMES = {
    "escape": "Esc",
    "backspace": "Backspace",
    "enter": "Enter",
    "pageup": "PageUp",
    "pagedown": "PageDown",
}


# The actions that change the store: hidden from the key bar, and refused, in a read-only
# console (``wfe console --read-only``).
WRITES = frozenset(
    {
        "run",
        "rerun",
        "rerun_step",
        "mark_step",
        "cancel",
        "decide",
        "toggle_active",
        "remove",
        "import_examples",
    }
)


def writes(action: str) -> bool:
    """Whether a binding's action (``decide(True)``, ``app.quit``) changes the store."""
    return action.rpartition(".")[2].partition("(")[0] in WRITES


def cursor_keys(prefix: str) -> list[Binding]:
    """vim's j k g G for any list, with ids under ``prefix`` so each screen's can be
    remapped; the screen has ``action_cursor(step)`` and ``action_edge(end)``."""
    return [
        Binding("j", "cursor(1)", "Down", id=f"{prefix}.down", show=False),
        Binding("k", "cursor(-1)", "Up", id=f"{prefix}.up", show=False),
        Binding("g", "edge(0)", "Top", id=f"{prefix}.top", show=False),
        Binding("G", "edge(1)", "Bottom", id=f"{prefix}.bottom", show=False),
    ]


def display(key: str) -> str:
    """One binding's keys (``"escape,backspace"``) as ``"Esc / Backspace"``."""
    return " / ".join(_one(part.strip()) for part in key.split(","))


def _one(key: str) -> str:
    """A single key: modifiers stay as Textual spells them (``ctrl+p``), the key is written."""
    modifiers, plus, name = key.rpartition("+")
    return f"{modifiers}{plus}{_name(name)}"


def _name(name: str) -> str:
    """``question_mark`` is ``?``; ``A`` stays ``A``; a named key is capitalised (``Tab``)."""
    if name in NAMES:
        return NAMES[name]
    if len(name) == 1:
        return name
    character = format_key(name)
    if len(character) == 1 and character.isprintable() and not character.isspace():
        return character
    return name.capitalize()
