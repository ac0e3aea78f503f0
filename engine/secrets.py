"""Secrets are masked everywhere they could show: logs, outputs, errors, the store.

A :class:`Masker` replaces each secret's value with ``***``; each line of a multi-line
secret too (a shell prints it a line at a time), and the start of one at the end of a
text that is cut (a log line at its cap, an output at its limit), since what was cut off
would otherwise leave its first characters behind. Masking comes before any cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_PART = 4  # a line of a multi-line secret, or the start of one at a cut, shorter than
# this is left alone: "}" or "ab" would mask half of every log


class Masker:
    """The secrets of one execution, and how to hide them in what it shows."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            values.add(secret)
            # As toJSON() or a JSON body writes it: quotes, backslashes, newlines escaped.
            escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
            if escaped != secret:
                values.add(escaped)
            if "\n" in secret or "\r" in secret:
                values.update(
                    line.strip() for line in secret.splitlines() if len(line.strip()) >= MIN_PART
                )
        # Longest first: a secret that contains another is masked whole.
        self._values = sorted(values, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._values)

    def text(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def value(self, value: Any) -> Any:
        """Strings inside lists and mappings masked too (a step's output)."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def cut(self, text: str, limit: int) -> str:
        """``text`` masked, then cut to ``limit`` characters with no secret's start left."""
        masked = self.text(text)
        if len(masked) <= limit:
            return masked
        return self.edge(masked[:limit])

    def edge(self, head: str) -> str:
        """Mask the start of a secret that a cut left at the end of ``head``."""
        for value in self._values:
            for size in range(min(len(value) - 1, len(head)), MIN_PART - 1, -1):
                if head.endswith(value[:size]):
                    return head[:-size] + MASK
        return head
