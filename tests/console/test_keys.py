"""Keys as help writes them: what is printed on the keyboard, not Textual's names."""

from __future__ import annotations

import pytest

from console import keys


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("question_mark", "?"),
        ("colon", ":"),
        ("right_square_bracket", "]"),
        ("left_square_bracket", "["),
        ("slash", "/"),
        ("escape", "Esc"),
        ("backspace", "Backspace"),
        ("enter", "Enter"),
        ("tab", "Tab"),
        ("space", "Space"),
        ("pagedown", "PageDown"),
        ("delete", "Delete"),
        ("f5", "F5"),
        ("up", "↑"),
    ],
)
def test_display_writes_a_named_key_as_a_person_does(key: str, shown: str) -> None:
    assert keys.display(key) == shown


@pytest.mark.parametrize("letter", ["a", "x", "A", "X", "G", "R", "N", "1"])
def test_display_keeps_a_letter_or_digit_as_it_is(letter: str) -> None:
    assert keys.display(letter) == letter


def test_display_keeps_modifiers_and_writes_the_key() -> None:
    assert keys.display("ctrl+p") == "ctrl+p"
    assert keys.display("shift+tab") == "shift+Tab"
    assert keys.display("ctrl+question_mark") == "ctrl+?"


def test_display_joins_the_keys_of_one_binding() -> None:
    assert keys.display("escape,backspace") == "Esc / Backspace"
    assert keys.display("escape, q,question_mark") == "Esc / q / ?"
