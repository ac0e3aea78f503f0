"""The workflow file's models: typed, frozen, every unknown key refused."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import zoneinfo
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from engine.definition.durations import parse_duration
from engine.definition.graph import Graph, dependencies
from engine.errors import InvalidParams

# What parse_duration reads (spaces anywhere are dropped): 90, 1.5, 500ms, 1h30m.
_D = r"[\s]*\d[\d\s]*(\.[\s]*\d[\d\s]*)?"
DURATION_PATTERN = rf"^({_D}|({_D}(ms|s|m|h|d)[\s]*)+)$"
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": DURATION_PATTERN},
            ],
            "description": "seconds, or a duration: 500ms, 10s, 5m, 1h30m",
        }
    ),
]
# What an env value may be written as (a number or a boolean is made a string).
ENV_SCHEMA = WithJsonSchema(
    {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
)
ACTIONS = ("run", "python", "http", "email", "workflow", "sleep", "log", "approval")
MAX_DEPTH = 5  # workflows calling workflows: how deep a chain may go
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$")  # the store keeps 200 characters
DEFAULT_TIMEOUT = 30 * 60.0
MAX_ITEMS = 100_000  # of one foreach step
MATRIX_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class _Model(BaseModel):
    # Each field's docstring is its description in `wfe schema`.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


class Retry(_Model):
    """How a failed step is tried again."""

    attempts: int = Field(default=1, ge=1, le=100)
    """Tries in all, the first included (1: no retry)."""
    delay: Duration = 0.0
    """The pause before the first retry."""
    backoff: float = Field(default=1.0, ge=1.0)
    """Each pause is this many times the one before."""
    max_delay: Duration | None = None
    """The longest pause, however much backoff grows it."""

    def delay_before(self, attempt: int) -> float:
        """The pause before ``attempt`` (2 for the first retry)."""
        delay = self.delay * self.backoff ** max(0, attempt - 2)
        return min(delay, self.max_delay) if self.max_delay is not None else delay


class Smtp(_Model):
    """The mail server; what is not given here comes from config.toml's [smtp] table."""

    host: str | None = None
    """The SMTP server's host."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Its port (default: 465 with tls, 587 with starttls, else 25)."""
    security: Literal["starttls", "tls", "none"] | None = None
    """starttls (upgrade a plain connection), tls (TLS from the start) or none
    (default: by the port: 465 tls, 587 starttls, else none)."""
    user: str | None = None
    """The user to log in as (with password)."""
    password: str | None = None
    """The password: a secret, ${{ secrets.NAME }}, never the password itself."""
    timeout: Duration = 30.0
    """How long sending may take."""


class Email(_Model):
    """An email sent through SMTP; its output is {to, subject, message_id}."""

    to: list[str] | str
    """Who gets it: an address, or a list of them (expressions allowed)."""
    cc: list[str] = Field(default_factory=list)
    """Copied to."""
    subject: str
    """The subject line (expressions allowed)."""
    body: str = ""
    """The text (expressions allowed)."""
    from_: str | None = Field(default=None, alias="from")
    """The sender (default: config.toml's [smtp] from, else wfe@ this host)."""
    smtp: Smtp = Field(default_factory=Smtp)
    """The server to send through."""


class Http(_Model):
    """An HTTP request; its output is {status, body}, the body decoded when it is JSON."""

    url: str
    """The URL (expressions allowed)."""
    method: Annotated[
        Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
        WithJsonSchema(
            {
                "type": "string",
                "pattern": "^("
                + "|".join(
                    "".join(f"[{c}{c.lower()}]" for c in m)
                    for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
                )
                + ")$",
            }
        ),
    ] = "GET"
    """The HTTP method, in any case."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Request headers."""
    json_body: Any = Field(default=None, alias="json")
    """A body sent as JSON (not with body)."""
    body: str | None = None
    """A body sent as text (not with json)."""
    expect: list[int] | None = None
    """The status codes that succeed (default: any 2xx)."""
    timeout: Duration = 30.0
    """How long the request may take."""

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_body(self) -> Http:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give either json or body, not both")
        return self


class Approval(_Model):
    """Wait for a person to approve or reject (a string is the prompt alone)."""

    prompt: str
    """What the person is asked (expressions allowed)."""
    timeout: Duration | None = None
    """How long to wait; the step fails after it."""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"prompt": data} if isinstance(data, str) else data


class Schedule(_Model):
    """When the workflow runs by itself (a string is the cron expression alone)."""

    cron: str
    """A cron expression, e.g. '0 2 * * *'."""
    timezone: str = "UTC"
    """The time zone the cron expression is read in, e.g. Europe/Paris."""
    catchup: Literal["skip", "latest", "all"] = "latest"
    """Ticks missed while nothing ran: none, the latest only, or all of them."""

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from croniter import croniter  # a tenth of a second to import: only when needed

        if not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a cron expression; write e.g. '0 2 * * *'")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{v!r} is not a time zone; write e.g. UTC or Europe/Paris") from exc
        return v


class Step(_Model):
    """One step: exactly one action (run, python, http, email, workflow, sleep, log or
    approval)."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": [action]} for action in ACTIONS]}
    )

    id: str
    """The step's id: letters, digits, - and _."""
    name: str | None = None
    """A name to show."""
    needs: list[str] | None = None
    """The steps that must succeed first (default: the step above; [] for none)."""
    run: str | None = None
    """A shell command; ${{ }} values reach it as data, never as syntax."""
    python: str | None = None
    """A function to call, module.path:function, with `with` as keyword arguments."""
    http: Http | None = None
    """An HTTP request."""
    email: Email | None = None
    """An email, sent through SMTP."""
    workflow: str | None = None
    """Run another workflow as a child execution, its params from `with`; its steps'
    outputs are this step's output."""
    sleep: Annotated[
        Duration | str | None,
        WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]}),
    ] = None
    """Wait this long (a duration, or an expression giving one)."""
    log: str | None = None
    """Write a line to the log (expressions allowed)."""
    approval: Approval | None = None
    """Wait for a person's decision."""
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    """Keyword arguments of a python step, or the params of a workflow step's child."""
    timeout: Duration | None = None
    """How long the step may take (each attempt)."""
    retry: Retry = Field(default_factory=Retry)
    """How to try again when it fails."""
    if_: str | bool | None = Field(default=None, alias="if")
    """Run only when this is true: an expression, with success(), failure(), always()."""
    env: Annotated[dict[str, str], ENV_SCHEMA] = Field(default_factory=dict)
    """Environment variables of the step's process."""
    continue_on_error: bool = False
    """A failure of this step does not stop the steps that need it."""
    foreach: Annotated[
        list[Any] | dict[str, list[Any] | str] | str | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "array"},
                    {"type": "string"},
                    {
                        "type": "object",
                        "additionalProperties": {"anyOf": [{"type": "array"}, {"type": "string"}]},
                    },
                ]
            }
        ),
    ] = None
    """Run the step once per item, each its own step run ID[item] reading ${{ item }}: a
    list, an expression giving one, or a matrix (a mapping of lists: every combination)."""
    max_parallel: int | None = Field(default=None, ge=1)
    """How many items of a foreach step run at once (default: as many as slots allow)."""
    fail_fast: bool = True
    """On the first failed item of a foreach step, start no more (false: run them all)."""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(
                f"{v[:40]!r} is not a step id; use letters, digits, - and _ (at most 200)"
            )
        return v

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, v: Any) -> Any:
        return _stringify_env(v)

    @field_validator("foreach", mode="before")
    @classmethod
    def _foreach_shape(cls, v: Any) -> Any:
        wanted = "a list, a matrix (a mapping of lists) or one ${{ }} expression giving a list"
        if v is not None and not isinstance(v, list | dict | str):
            raise ValueError(f"{v!r} is not {wanted}")
        if isinstance(v, dict):
            for key, values in v.items():
                if not isinstance(values, list | str):
                    raise ValueError(f"matrix key {str(key)[:40]!r}: {values!r} is not a list")
        return v

    @field_validator("foreach")
    @classmethod
    def _foreach(cls, v: Any) -> Any:
        if isinstance(v, list) and len(v) > MAX_ITEMS:
            raise ValueError(f"{len(v):,} items; a foreach has at most {MAX_ITEMS:,}")
        if isinstance(v, dict):
            if not v:
                raise ValueError("a matrix needs at least one key, each with a list")
            for key in v:
                if not MATRIX_KEY.match(key):
                    raise ValueError(
                        f"{key[:40]!r} is not a matrix key; use letters, digits and _"
                        " (item.KEY reads it)"
                    )
        return v

    @field_validator("workflow")
    @classmethod
    def _workflow(cls, v: str | None) -> str | None:
        if v is not None and not NAME_RE.match(v):
            raise ValueError(f"{v[:40]!r} is not a workflow name")
        return v

    @field_validator("python")
    @classmethod
    def _target(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[\w.]+:[\w.]+", v):
            raise ValueError(f"{v!r} is not a Python target; write module.path:function")
        return v

    @field_validator("sleep", mode="before")
    @classmethod
    def _sleep(cls, v: Any) -> Any:
        if isinstance(v, str) and "${{" in v:
            return v
        return None if v is None else parse_duration(v)

    @model_validator(mode="before")
    @classmethod
    def _one_action(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            given = [a for a in ACTIONS if a in data]
            if not given:
                raise ValueError("the step has no action; give one of " + ", ".join(ACTIONS))
            if len(given) > 1:
                raise ValueError(f"the step has {' and '.join(given)}; give exactly one action")
            if "with" in data and "python" not in data and "workflow" not in data:
                raise ValueError("'with' passes arguments to a python or workflow step only")
            if data.get("foreach") is None:
                given = [k for k in ("max_parallel", "fail_fast") if k in data]
                if given:
                    raise ValueError(f"{' and '.join(given)} apply to a foreach step only")
            elif "approval" in data:
                raise ValueError("foreach cannot fan out an approval: give each its own step")
        return data

    @functools.cached_property
    def kind(self) -> str:
        """Which action it has: run, python, http, email, workflow, sleep, log or approval."""
        return next(a for a in ACTIONS if getattr(self, a) is not None)


HOOKS = ("success", "failure", "cancelled", "always")


class Hooks(_Model):
    """Steps run after the main ones, by how the execution ended. They read
    ${{ execution.status }}, ${{ execution.error }} and ${{ execution.failed_steps }};
    what they do is recorded and shown, and never changes the execution's status."""

    success: list[Step] = Field(default_factory=list)
    """After the execution succeeded."""
    failure: list[Step] = Field(default_factory=list)
    """After it failed or timed out."""
    cancelled: list[Step] = Field(default_factory=list)
    """After it was cancelled."""
    always: list[Step] = Field(default_factory=list)
    """After it ended, however it ended (after the list for that end)."""

    def lists(self) -> list[tuple[str, list[Step]]]:
        return [(name, getattr(self, name)) for name in HOOKS]

    def for_end(self, status: str) -> list[str]:
        """The lists that run after an execution that ended ``status``, in order."""
        first = {"succeeded": "success", "failed": "failure", "timed_out": "failure"}.get(
            status, "cancelled" if status == "cancelled" else None
        )
        return [name for name in (first, "always") if name is not None and getattr(self, name)]


class Workflow(_Model):
    """A workflow file."""

    name: str
    """The workflow's name: letters, digits, - and _ (at most 200)."""
    description: str = ""
    """What it does, in a line or two."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Parameters and their defaults (a default's type is the parameter's)."""
    env: Annotated[dict[str, str], ENV_SCHEMA] = Field(default_factory=dict)
    """Environment variables of every step."""
    secrets: list[str] = Field(default_factory=list)
    """Names of the secrets its steps read (secrets.NAME); masked in every log."""
    schedule: Schedule | None = None
    """When it runs by itself: a cron expression, or a table with cron, timezone, catchup."""
    timeout: Duration = DEFAULT_TIMEOUT
    """How long an execution may take in all (default 30m)."""
    concurrency: int | None = Field(default=None, ge=1)
    """How many of its steps may run at once."""
    steps: list[Step] = Field(min_length=1)
    """The steps, in order."""
    on: Hooks = Field(default_factory=Hooks)
    """Steps to run when the execution has ended: on success, failure, cancelled, always."""

    # Filled in by parse(): the text the workflow came from and its digest.
    source: str = Field(default="", exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(
                f"{v[:40]!r} is not a workflow name; use letters, digits, - and _ (at most 200)"
            )
        return v

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, v: Any) -> Any:
        return _stringify_env(v)

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, v: Any) -> Any:
        return {"cron": v} if isinstance(v, str) else v

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, value in v.items():
            if not NAME_RE.match(key):
                raise ValueError(f"{key!r} is not a parameter name; use letters, digits, - and _")
            check_json(value, f"the default of {key!r}")
        return v

    @functools.cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def dependencies(self) -> dict[str, list[str]]:
        """Each step's ``needs``, with the implicit "follows the step above" filled in."""
        return dependencies(self.steps)

    @functools.cached_property
    def waits_for_people(self) -> bool:
        """Whether it has an approval step (whose request must be closed when it ends)."""
        return any(step.kind == "approval" for step in self.steps)

    @functools.cached_property
    def graph(self) -> Graph:
        """The steps wired by their needs, worked out once per definition."""
        return Graph.of(self.steps)

    @functools.cached_property
    def hook_graphs(self) -> dict[str, Graph]:
        """Each hook list's steps wired by their needs; their positions follow the main
        steps' (success, failure, cancelled, always: the file's order of the keys)."""
        graphs: dict[str, Graph] = {}
        start = len(self.steps)
        for name, steps in self.on.lists():
            if steps:
                graphs[name] = Graph.of(steps, start=start)
            start += len(steps)
        return graphs

    @functools.cached_property
    def calls(self) -> list[str]:
        """The workflows its steps run as child executions (``workflow: NAME``)."""
        return [s.workflow for s in (*self.steps, *self.hook_steps) if s.workflow is not None]

    @functools.cached_property
    def hook_steps(self) -> list[Step]:
        """Every hook step, in their positions' order."""
        return [step for _name, steps in self.on.lists() for step in steps]

    def coerce_params(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """Text values (``-p name=value``, a form) read as their defaults' types, merged.

        ``-p files=3`` is the number 3 when the default is a number, and ``-p tag=1.0``
        stays the string "1.0" when the default is a string.
        """
        self._refuse_unknown(raw)
        return self.merge_params({k: _coerce(k, v, self.params[k]) for k, v in raw.items()})

    def _refuse_unknown(self, given: Mapping[str, Any]) -> None:
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise InvalidParams(
                f"workflow {self.name!r} has no parameter {', '.join(map(repr, unknown))}"
                f" (its parameters: {known})"
            )

    def check_types(self, given: Mapping[str, Any]) -> None:
        """Values given as JSON (a line of ``--params-from``) held to their defaults'
        types, as ``-p`` reads text as them: ``"abc"`` is no whole number, ``1`` no
        text. A parameter whose default is null takes any value."""
        for key, value in given.items():
            default = self.params.get(key)
            if default is None or _of_kind(value, default):
                continue
            shown = json.dumps(value, ensure_ascii=False)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise InvalidParams(
                f"parameter {key!r} expects {_kind(default)}"
                f" (its default is {json.dumps(default)}), not {shown}"
            )

    def merge_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overridden by ``given``; unknown names are refused."""
        self._refuse_unknown(given)
        merged = dict(self.params)
        for key, value in given.items():
            try:
                check_json(value, f"parameter {key!r}")
            except ValueError as exc:
                raise InvalidParams(str(exc)) from exc
            merged[key] = value
        return merged


def _coerce(name: str, raw: str, default: Any) -> Any:
    """A text value read as the type of the parameter's default."""
    text = raw.strip()
    try:
        if isinstance(default, bool):
            lowered = text.lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, list | dict):
            # By its kind, not its class: a default read from YAML is a dict that knows
            # its lines, and what the user typed a plain one.
            value = json.loads(text)
            if not isinstance(value, list if isinstance(default, list) else dict):
                raise ValueError
            return value
        if default is None:
            try:
                return json.loads(text)
            except ValueError:
                return raw
    except ValueError as exc:
        raise InvalidParams(
            f"parameter {name!r} expects {_kind(default)}"
            f" (its default is {json.dumps(default)}), not {raw!r}"
        ) from exc
    return raw


def _kind(default: Any) -> str:
    """What a parameter with this default takes, in words."""
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "a whole number"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, list):
        return "a JSON list"
    if isinstance(default, dict):
        return "a JSON object"
    return "text"


def _of_kind(value: Any, default: Any) -> bool:
    """Whether a JSON value is of the kind its parameter's default is (a whole number
    is a number too; true is no number)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, int | float)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list)
    if isinstance(default, dict):
        return isinstance(value, dict)
    return True


def _stringify_env(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {
            k: (json.dumps(x) if isinstance(x, bool) else str(x)) if not isinstance(x, str) else x
            for k, x in v.items()
        }
    return v


def check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{what} is {type(value).__name__} {value!r}, which is not JSON;"
            " quote it to make it a string"
        ) from exc
