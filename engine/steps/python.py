"""The ``python:`` step: ``module:function`` called with the step's ``with:`` arguments.

A plain function runs in a worker thread; an ``async def`` runs on trio. Its return
value, which must be JSON, is the step's output.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
from collections.abc import Callable
from typing import Any

import trio

from engine.definition import Step
from engine.errors import StepError
from engine.steps.context import Outcome, StepContext


def resolve(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StepError(f"cannot import {module_name!r}: {exc}") from exc
    except Exception as exc:
        raise StepError(f"importing {module_name!r} raised {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise StepError(f"module {module_name!r} has no {attr!r}")
    if not callable(obj):
        raise StepError(f"{target} is not callable")
    return obj  # type: ignore[no-any-return]


async def execute(ctx: StepContext, step: Step) -> Outcome:
    assert step.python is not None
    fn = resolve(step.python)
    kwargs = ctx.render(dict(step.with_))
    try:
        if inspect.iscoroutinefunction(fn):
            result = await fn(**kwargs)
        else:
            result = await trio.to_thread.run_sync(
                functools.partial(fn, **kwargs), abandon_on_cancel=True
            )
    except TypeError as exc:
        if "argument" in str(exc):
            raise StepError(f"{step.python}: {exc}") from exc
        raise StepError(f"{step.python} raised TypeError: {exc}") from exc
    except Exception as exc:
        raise StepError(f"{step.python} raised {type(exc).__name__}: {exc}") from exc
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StepError(
            f"{step.python} returned {type(result).__name__}, which is not JSON"
        ) from exc
    return Outcome(output=result)
