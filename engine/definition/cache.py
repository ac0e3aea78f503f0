"""Parsed definitions, kept by digest: each version of a workflow is parsed once.

The executor, the scheduler, re-runs and the console all read definitions from stored
workflows; :func:`parsed` parses a version the first time it is asked for and hands out
the same (frozen) :class:`~engine.definition.Workflow` after that, from any thread. It
is a cache, like ``re``'s: bounded, and nothing depends on what it holds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from engine.definition.validation import parse

if TYPE_CHECKING:
    from engine.definition.models import Workflow

SIZE = 256  # versions kept


class Stored(Protocol):
    """What a stored workflow gives: its name, version, text and the text's digest."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def definition(self) -> str: ...
    @property
    def digest(self) -> str: ...


_parsed: OrderedDict[str, Workflow] = OrderedDict()
_lock = threading.Lock()


def parsed(stored: Stored) -> Workflow:
    """The parsed definition of a stored workflow's version.

    Raises:
        DefinitionError: the stored text no longer parses (a newer wfe's rules).
    """
    with _lock:
        found = _parsed.get(stored.digest)
        if found is not None:
            _parsed.move_to_end(stored.digest)
            return found
    # Parsed outside the lock: a 10,000-step file takes most of a second, and two
    # threads parsing the same text at once merely do the work twice.
    wf = parse(stored.definition, f"{stored.name} (v{stored.version})")
    with _lock:
        _parsed[stored.digest] = wf
        while len(_parsed) > SIZE:
            _parsed.popitem(last=False)
    return wf


def peek(digest: str) -> Workflow | None:
    """The definition with this digest if it was parsed already (never parses)."""
    with _lock:
        return _parsed.get(digest)
