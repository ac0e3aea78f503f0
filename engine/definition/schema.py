"""``wfe schema``: a JSON Schema of the workflow file, made from its models.

Every field's description is the docstring under it in :mod:`.models`. Where a model's
validator takes more than its type says (a schedule written as a cron string, an
approval as its prompt, env values as numbers), the schema says so too, so an editor
accepts exactly what ``wfe validate`` does, short of what only a check can tell (an
expression's names, cron syntax, a dependency cycle).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from engine.definition.models import Workflow

SCHEMA_ID = "https://workflow-engine.invalid/workflow.schema.json"


@functools.cache
def _generated() -> dict[str, Any]:
    schema = Workflow.model_json_schema(by_alias=True, mode="validation")
    props = schema["properties"]
    props.pop("source", None)  # filled in by the loader, never written in a file
    _or_string(props["schedule"], "a cron expression, e.g. '0 2 * * *'")
    _or_string(schema["$defs"]["Step"]["properties"]["approval"], "the prompt alone")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "WorkflowEngine workflow",
    }


def json_schema() -> dict[str, Any]:
    """The schema, as a new dict each time (callers may change it)."""
    return copy.deepcopy(_generated())


def _or_string(prop: dict[str, Any], what: str) -> None:
    """A property that may also be written as a string."""
    options = prop.setdefault("anyOf", [])
    options.insert(0, {"type": "string", "description": what})
