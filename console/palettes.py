"""Load the palettes in ``themes/`` as Textual themes (package data, importlib.resources)."""

from __future__ import annotations

import tomllib
from importlib import resources

from textual.theme import Theme

THEME_PACKAGE = "themes"


def load_themes() -> list[Theme]:
    themes = []
    for entry in sorted(resources.files(THEME_PACKAGE).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            themes.append(Theme(**data))
    return themes
