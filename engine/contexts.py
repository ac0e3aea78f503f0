"""Contexts: stores with names, so one ``wfe`` reaches more than one.

They are named in ``config.toml`` (the console's file, in the user config folder)::

    [contexts.prod]
    url = "postgresql://db.internal/wfe"
    read_only = true              # the console on it shows and refuses every write

    [contexts.scratch]
    url = "~/scratch.db"          # a path is a SQLite file

``default`` is always there: the store ``wfe`` uses with no ``--db`` (``$WFE_DATABASE_URL``,
else the SQLite file in the data folder); a ``[contexts.default]`` table may change its
url. ``--context NAME`` (or ``$WFE_CONTEXT``) picks one for a command or the console;
``--db`` names a store directly and cannot be given with it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from engine import settings
from engine.errors import EngineError

DEFAULT = "default"
ENV_CONTEXT = "WFE_CONTEXT"


@dataclass(frozen=True)
class Context:
    name: str
    url: str
    read_only: bool = False


def safe_url(url: str) -> str:
    """A store's URL as it may be shown: its password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: shown as given, minus any user info
        return url.split("@", 1)[-1] if "@" in url else url


def config_path() -> Path:
    return settings.config_dir() / "config.toml"


def load(path: Path | None = None) -> dict[str, Context]:
    """Every context, ``default`` first; a table that is not right is refused by name."""
    path = path or config_path()
    found = {DEFAULT: Context(DEFAULT, settings.database_url())}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return found
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EngineError(f"{path}: {exc}") from exc
    tables = data.get("contexts", {})
    if not isinstance(tables, dict):
        raise EngineError(f"{path}: contexts: expected tables such as [contexts.prod]")
    for name, table in tables.items():
        where = f"{path}: contexts.{name}"
        if not isinstance(table, dict):
            raise EngineError(f'{where}: expected a table with url = "…"')
        unknown = sorted(set(table) - {"url", "read_only"})
        if unknown:
            raise EngineError(f"{where}: unknown key {unknown[0]!r} (url, read_only)")
        url = table.get("url")
        if name == DEFAULT and url is None:
            url = found[DEFAULT].url
        if not isinstance(url, str) or not url.strip():
            raise EngineError(f"{where}.url: expected a database URL or a SQLite path")
        read_only = table.get("read_only", False)
        if not isinstance(read_only, bool):
            raise EngineError(f"{where}.read_only: expected true or false")
        found[name] = Context(name, settings.database_url(os.path.expanduser(url)), read_only)
    return found


def pick(name: str | None, db: str | None = None, path: Path | None = None) -> Context:
    """The context a command works on: ``--context``, ``$WFE_CONTEXT``, or ``--db``."""
    if name is not None and db is not None:
        raise EngineError("give --db or --context, not both")
    if db is not None:
        url = settings.database_url(db)
        return Context(safe_url(url), url)  # named by its URL: never taken for default
    name = name or os.environ.get(ENV_CONTEXT) or DEFAULT
    where = path or config_path()
    if name == DEFAULT and not where.exists():
        return Context(DEFAULT, settings.database_url())  # nothing to read: stay quick
    known = load(path)
    if name not in known:
        raise EngineError(
            f"there is no context {name!r}; known: {', '.join(known)}"
            f" (see [contexts.NAME] in {where})"
        )
    return known[name]
