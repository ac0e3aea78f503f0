"""Where things live: the database URL, the data and config folders (platformdirs)."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "workflow-engine"
DB_FILENAME = "workflow-engine.db"
ENV_DATABASE_URL = "WFE_DATABASE_URL"
# Seconds a runner's heartbeat holds its executions: one silent this long is taken for
# dead and its work taken over. Each runner records its own with each heartbeat.
DEFAULT_LEASE = 15.0


def data_dir() -> Path:
    """Where the default store lives (``~/.local/share/workflow-engine`` on Linux)."""
    import platformdirs  # only a command that needs a folder pays for the import

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Where ``config.toml`` lives (``~/.config/workflow-engine`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    """Where the console writes its log (``~/.local/state/workflow-engine`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / DB_FILENAME}"


def database_url(explicit: str | None = None) -> str:
    """``--db`` first, then ``WFE_DATABASE_URL``, then the SQLite file in the data folder.

    A bare path (``./my.db``) is taken as a SQLite file.
    """
    url = explicit or os.environ.get(ENV_DATABASE_URL) or default_database_url()
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().absolute()}"
    return url
