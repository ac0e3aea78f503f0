"""The console's settings: ``config.toml`` under the user config folder.

```toml
theme = "wfe-dark"          # or wfe-light, wfe-ansi, or any Textual theme
run_in_console = false      # true: run here even when `wfe worker`s are alive

[keys]                      # binding id = keys, to remap any binding
"executions.cancel" = "x"

[sort]                      # each list's order, as last chosen with o / O
executions = "duration desc"
```
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from engine import settings

DEFAULT_THEME = "wfe-dark"


@dataclass
class Config:
    theme: str = DEFAULT_THEME
    keys: dict[str, str] = field(default_factory=dict)
    # Run executions started here in the console even when workers are alive.
    run_in_console: bool = False
    # Each list's order: view = "column" or "column desc" (e.g. executions = "duration desc").
    sort: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    problem: str | None = None  # why the file could not be read, shown once at start


def default_path() -> Path:
    return settings.config_dir() / "config.toml"


def load(path: Path | None = None) -> Config:
    path = path or default_path()
    config = Config(path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return config
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        config.problem = f"{path}: {exc}; using the defaults"
        return config
    config.run_in_console = bool(data.get("run_in_console", False))
    theme = data.get("theme", DEFAULT_THEME)
    keys = data.get("keys", {})
    sort = data.get("sort", {})
    if isinstance(sort, dict) and all(isinstance(v, str) for v in sort.values()):
        config.sort = dict(sort)
    else:
        config.problem = f'{path}: [sort]: expected view = "column" or "column desc"'
    if not isinstance(theme, str):
        config.problem = f"{path}: theme: expected a name such as {DEFAULT_THEME!r}"
    else:
        config.theme = theme
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        config.problem = f'{path}: [keys]: expected binding ids = "keys"'
    else:
        config.keys = dict(keys)
    return config


def save(config: Config) -> None:
    """Write the file (theme, keys, orders); a failure to write is not worth a crash."""
    path = config.path or default_path()
    lines = [f"theme = {json.dumps(config.theme)}"]
    if config.run_in_console:
        lines.append("run_in_console = true")
    lines.append("")
    for table, values in (("keys", config.keys), ("sort", config.sort)):
        if values:
            lines.append(f"[{table}]")
            lines.extend(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in sorted(values.items()))
            lines.append("")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError:
        pass
