"""Every error the engine raises on purpose.

Errors of YAML, SQLAlchemy, httpx and the operating system are translated at the boundary
(``raise ... from exc``), so a caller catches :class:`EngineError` and shows ``str(exc)``:
one line that says what is wrong and where, never a traceback.

    EngineError
    ├── DefinitionError        a workflow file is malformed or invalid
    ├── ExpressionError        a ``${{ … }}`` expression cannot be parsed or evaluated
    ├── StoreError             the store cannot be opened, read or written
    │   ├── SchemaError        the database was written by a newer (or foreign) schema
    │   ├── StoreBusy          another process holds the store's write lock (it passes)
    │   ├── StoreUnavailable   the disk is full, the file is gone, the server is away
    │   └── StoreRefused       the database refused what was written (retrying won't help)
    ├── NotFound               a workflow or an execution does not exist
    ├── InvalidParams          run-time parameters do not fit the workflow
    └── StepError              a step failed (the message is the step's error)
        └── StepTimeout        a step ran past its timeout
"""

from __future__ import annotations

from dataclasses import dataclass


class EngineError(Exception):
    """The engine could not do what was asked."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (type(self).__doc__ or "").strip())


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow file: where it is and what would be right."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class DefinitionError(EngineError):
    """The workflow file is not valid."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ExpressionError(EngineError):
    """The expression is not valid."""


class StoreError(EngineError):
    """The store cannot be used."""


class SchemaError(StoreError):
    """The database was written by another version of WorkflowEngine."""


class StoreBusy(StoreError):
    """Another process holds the store's write lock."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or written just now."""


class StoreFull(StoreUnavailable):
    """The disk under the store is full: nobody can write until space is freed."""


class StoreRefused(StoreError):
    """The database refused what was written."""


class NotFound(EngineError):
    """No such object in the store."""


class InvalidParams(EngineError):
    """The parameters do not fit the workflow."""


class StepError(EngineError):
    """The step failed."""

    def __init__(self, message: str | None = None, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class StepTimeout(StepError):
    """The step ran past its timeout."""
