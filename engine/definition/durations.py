"""Durations as a workflow file writes them: ``90``, ``500ms``, ``10s``, ``1h30m``, ``2d``."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``1.5``, ``"500ms"``, ``"10s"``, ``"1h30m"`` or ``"2d"``.

    Raises:
        ValueError: it is not a duration (the message says how to write one).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 1h30m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative; a duration is 0 or more")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        if text and re.fullmatch(rf"(?:{_DURATION.pattern})+", text):
            return sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 1h30m or 500ms")


def format_duration(seconds: float) -> str:
    """``0.25`` -> ``250ms``, ``12.5`` -> ``12.5s``, ``125`` -> ``2m05s``, ``3700`` -> ``1h01m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"
