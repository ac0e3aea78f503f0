"""WorkflowEngine: workflows declared in YAML, run on trio, recorded in a SQLModel store.

The public face. Names are imported when first used, so ``import engine`` (and ``wfe
--help``) costs nothing of SQLAlchemy, trio or httpx until a caller reaches for them.

    definition/   workflow files: models, YAML, validation, the step graph, expressions
    store/        everything durable, on SQLite or PostgreSQL
    runtime/      the executor, runner sessions, ``wfe worker``, schedules
    steps/        one module per step kind; shells' processes
    cli/          the ``wfe`` command
    settings.py   where things live;  errors.py  the errors;  status.py  the statuses
"""

import importlib as _importlib
import typing as _typing

from engine.errors import (
    DefinitionError,
    EngineError,
    ExpressionError,
    InvalidParams,
    NotFound,
    SchemaError,
    StepError,
    StepTimeout,
    StoreError,
)
from engine.status import ExecutionStatus, StepStatus

if _typing.TYPE_CHECKING:
    from engine.definition import Workflow, load, parse
    from engine.runtime import (
        Event,
        ExecutionHandle,
        Executor,
        ExecutorStatistics,
        open_executor,
    )
    from engine.store import Store, open_store

_LAZY = {
    "Event": "engine.runtime",
    "ExecutionHandle": "engine.runtime",
    "Executor": "engine.runtime",
    "ExecutorStatistics": "engine.runtime",
    "Store": "engine.store",
    "Workflow": "engine.definition",
    "load": "engine.definition",
    "open_executor": "engine.runtime",
    "open_store": "engine.store",
    "parse": "engine.definition",
}

__all__ = [
    "DefinitionError",
    "EngineError",
    "Event",
    "ExecutionHandle",
    "ExecutionStatus",
    "Executor",
    "ExecutorStatistics",
    "ExpressionError",
    "InvalidParams",
    "NotFound",
    "SchemaError",
    "StepError",
    "StepStatus",
    "StepTimeout",
    "Store",
    "StoreError",
    "Workflow",
    "load",
    "open_executor",
    "open_store",
    "parse",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
