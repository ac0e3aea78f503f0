"""WorkflowEngine: workflows declared in YAML, run on trio, recorded in a SQLModel store."""

from engine.definition import Workflow, load, parse
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
from engine.executor import Event, ExecutionHandle, Executor, ExecutorStatistics, open_executor
from engine.store import Store, open_store

__all__ = [
    "DefinitionError",
    "EngineError",
    "Event",
    "ExecutionHandle",
    "Executor",
    "ExecutorStatistics",
    "ExpressionError",
    "InvalidParams",
    "NotFound",
    "SchemaError",
    "StepError",
    "StepTimeout",
    "Store",
    "StoreError",
    "Workflow",
    "load",
    "open_executor",
    "open_store",
    "parse",
]
