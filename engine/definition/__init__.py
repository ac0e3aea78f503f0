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
"""

from engine.definition.cache import parsed
from engine.definition.durations import Duration, format_duration, parse_duration
from engine.definition.graph import Graph
from engine.definition.models import (
    ACTIONS,
    DEFAULT_TIMEOUT,
    Approval,
    Http,
    Retry,
    Schedule,
    Step,
    Workflow,
    check_json,
)
from engine.definition.validation import load, parse, workflow_files

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
