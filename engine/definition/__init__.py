"""Workflow files: YAML read safely, validated into typed, frozen models.

:func:`load` and :func:`parse` refuse a bad file before anything runs, with every problem
found (file, line, field and what would be right) in one :class:`~engine.errors.DefinitionError`.

    models.py       the models (Workflow, Step, Retry, Http, Approval, Schedule)
    durations.py    ``500ms``, ``1h30m``: parsing and formatting
    loader.py       the line-keeping YAML loader
    validation.py   parse, load, and every check with its file, line and field
    graph.py        the step graph: needs, order, reachability, what follows a step
    expressions.py  the ``${{ }}`` language
    cache.py        parsed definitions by digest, shared by the whole process

The names below are imported when first used: a command that only formats a duration
does not pay for the models and the YAML loader.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from engine.definition.cache import parsed
    from engine.definition.durations import format_duration, parse_duration
    from engine.definition.graph import Graph
    from engine.definition.models import (
        ACTIONS,
        DEFAULT_TIMEOUT,
        Approval,
        Duration,
        Http,
        Retry,
        Schedule,
        Step,
        Workflow,
        check_json,
    )
    from engine.definition.validation import load, parse, workflow_files

_WHERE = {
    "ACTIONS": "models",
    "DEFAULT_TIMEOUT": "models",
    "Approval": "models",
    "Duration": "models",
    "Graph": "graph",
    "Http": "models",
    "Retry": "models",
    "Schedule": "models",
    "Step": "models",
    "Workflow": "models",
    "check_json": "models",
    "format_duration": "durations",
    "load": "validation",
    "parse": "validation",
    "parse_duration": "durations",
    "parsed": "cache",
    "workflow_files": "validation",
}

__all__ = [
    "ACTIONS",
    "DEFAULT_TIMEOUT",
    "Approval",
    "Duration",
    "Graph",
    "Http",
    "Retry",
    "Schedule",
    "Step",
    "Workflow",
    "check_json",
    "format_duration",
    "load",
    "parse",
    "parse_duration",
    "parsed",
    "workflow_files",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.definition' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"engine.definition.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
