"""Workflow files: YAML read safely, validated into typed, frozen models.

:func:`load` and :func:`parse` refuse a bad file before anything runs, with every problem
found (file, line, field and what would be right) in one :class:`~engine.errors.DefinitionError`.
"""

from __future__ import annotations

import hashlib
import json
import re
import zoneinfo
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from croniter import croniter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine import expressions
from engine.errors import DefinitionError, ExpressionError, InvalidParams, Problem

ACTIONS = ("run", "python", "http", "sleep", "log", "approval")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
DEFAULT_TIMEOUT = 30 * 60.0

# ---------------------------------------------------------------------------
# Durations
# ---------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``1.5``, ``"500ms"``, ``"10s"``, ``"1h30m"`` or ``"2d"``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 1h30m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative; a duration is 0 or more")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        if text and re.fullmatch(rf"(?:{_DURATION.pattern})+", text):
            return sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 1h30m or 500ms")


Duration = Annotated[float, BeforeValidator(parse_duration)]


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Retry(_Model):
    attempts: int = Field(default=1, ge=1, le=100)
    delay: Duration = 0.0
    backoff: float = Field(default=1.0, ge=1.0)
    max_delay: Duration | None = None

    def delay_before(self, attempt: int) -> float:
        """The pause before ``attempt`` (2 for the first retry)."""
        delay = self.delay * self.backoff ** max(0, attempt - 2)
        return min(delay, self.max_delay) if self.max_delay is not None else delay


class Http(_Model):
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    expect: list[int] | None = None
    timeout: Duration = 30.0

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
    prompt: str
    timeout: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"prompt": data} if isinstance(data, str) else data


class Schedule(_Model):
    cron: str
    timezone: str = "UTC"
    catchup: Literal["skip", "latest", "all"] = "latest"

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a cron expression; write e.g. '0 2 * * *'")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone; write e.g. UTC or Europe/Paris") from None
        return v


class Step(_Model):
    id: str
    name: str | None = None
    needs: list[str] | None = None
    run: str | None = None
    python: str | None = None
    http: Http | None = None
    sleep: Duration | str | None = None
    log: str | None = None
    approval: Approval | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    timeout: Duration | None = None
    retry: Retry = Field(default_factory=Retry)
    if_: str | bool | None = Field(default=None, alias="if")
    env: dict[str, str] = Field(default_factory=dict)
    continue_on_error: bool = False

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a step id; use letters, digits, - and _")
        return v

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, v: Any) -> Any:
        return _stringify_env(v)

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
            if "with" in data and "python" not in data:
                raise ValueError("'with' passes arguments to a python step only")
        return data

    @property
    def kind(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)


class Workflow(_Model):
    name: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)
    schedule: Schedule | None = None
    timeout: Duration = DEFAULT_TIMEOUT
    concurrency: int | None = Field(default=None, ge=1)
    steps: list[Step] = Field(min_length=1)

    # Filled in by parse(): the text the workflow came from and its digest.
    source: str = Field(default="", exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a workflow name; use letters, digits, - and _")
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

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def dependencies(self) -> dict[str, list[str]]:
        """Each step's ``needs``, with the implicit "follows the step above" filled in."""
        deps: dict[str, list[str]] = {}
        previous: str | None = None
        for step in self.steps:
            if step.needs is not None:
                deps[step.id] = list(step.needs)
            else:
                deps[step.id] = [previous] if previous is not None else []
            previous = step.id
        return deps

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

    def merge_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overridden by ``given``; unknown names are refused."""
        self._refuse_unknown(given)
        merged = dict(self.params)
        for key, value in given.items():
            try:
                check_json(value, f"parameter {key!r}")
            except ValueError as exc:
                raise InvalidParams(str(exc)) from None
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
            value = json.loads(text)
            if not isinstance(value, type(default)):
                raise ValueError
            return value
        if default is None:
            try:
                return json.loads(text)
            except ValueError:
                return raw
    except ValueError:
        kind = {bool: "true or false", int: "a whole number", float: "a number"}.get(
            type(default), f"JSON {type(default).__name__}"
        )
        raise InvalidParams(
            f"parameter {name!r} expects {kind} (its default is {json.dumps(default)}), not {raw!r}"
        ) from None
    return raw


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
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} is {type(value).__name__} {value!r}, which is not JSON;"
            " quote it to make it a string"
        ) from None


# ---------------------------------------------------------------------------
# YAML with line numbers
# ---------------------------------------------------------------------------


class _LineDict(dict[Any, Any]):
    line: int = 0
    key_lines: dict[Any, int]


class _LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """A SafeLoader that remembers lines and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        mapping = _LineDict()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in mapping:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            mapping[key] = self.construct_object(value_node, deep=True)
            mapping.key_lines[key] = key_node.start_mark.line + 1
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> Any:
        seq = _LineList(self.construct_object(child, deep=True) for child in node.value)
        seq.line = node.start_mark.line + 1
        seq.item_lines = [child.start_mark.line + 1 for child in node.value]
        return seq


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)


def _line_of(data: Any, loc: tuple[int | str, ...]) -> int | None:
    line: int | None = getattr(data, "line", None)
    node = data
    for part in loc:
        if isinstance(node, _LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, _LineList) and isinstance(part, int) and part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def _field_name(data: Any, loc: tuple[int | str, ...]) -> str:
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            step_id = (
                node[part].get("id")
                if isinstance(node, list) and part < len(node) and isinstance(node[part], dict)
                else None
            )
            out += f"[{part}]" if step_id is None else f"[{step_id}]"
        else:
            out += f".{part}" if out else str(part)
        node = (
            node.get(part)
            if isinstance(node, dict)
            else (
                node[part]
                if isinstance(node, list) and isinstance(part, int) and part < len(node)
                else None
            )
        )
    return out


# ---------------------------------------------------------------------------
# Parsing and validation
# ---------------------------------------------------------------------------

_ALIASES = {"with_": "with", "if_": "if", "json_body": "json"}


def parse(text: str, file: str = "<workflow>") -> Workflow:
    """Parse and validate one workflow file's text."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        context = exc.context or ""
        if context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
            context += f" (from line {exc.context_mark.line + 1})"
        message = " ".join(str(p) for p in (context, exc.problem) if p)
        raise DefinitionError([Problem(file, line, "", f"malformed YAML: {message}")]) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(file, None, "", f"malformed YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise DefinitionError(
            [
                Problem(
                    file,
                    getattr(data, "line", 1),
                    "",
                    "a workflow file is a mapping with name and steps",
                )
            ]
        )
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(_problems(exc, data, file)) from None
    workflow = workflow.model_copy(update={"source": text})
    problems = list(_check_graph(workflow, data, file))
    if problems:
        raise DefinitionError(problems)
    return workflow


def _problems(exc: ValidationError, data: Any, file: str) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors():
        loc = tuple(_ALIASES.get(str(p), p) if isinstance(p, str) else p for p in err["loc"])
        # Pydantic adds the union member or validator name to the location; drop those.
        loc = tuple(
            p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
        )
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            field = loc[-1]
            parent_loc = loc[:-1]
            expected = _expected_keys(data, parent_loc)
            message = f"unknown key {field!r}; expected one of: {', '.join(expected)}"
        elif err["type"] == "missing":
            message = f"{loc[-1]!r} is required"
            line = _line_of(data, loc[:-1])
            problems.append(Problem(file, line, _field_name(data, loc[:-1]), message))
            continue
        problems.append(Problem(file, _line_of(data, loc), _field_name(data, loc), message))
    # A union (sleep: duration | template) reports once per member; keep one.
    unique: dict[tuple[int | None, str], Problem] = {}
    for p in problems:
        unique.setdefault((p.line, p.field), p)
    return list(unique.values())


_NESTED: dict[str, type[BaseModel]] = {
    "steps": Step,
    "retry": Retry,
    "http": Http,
    "schedule": Schedule,
    "approval": Approval,
}


def _expected_keys(data: Any, loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = Workflow
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part)) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        nested = _NESTED.get(str(part))
        if field is None or nested is None:
            break
        model = nested
    return [f.alias or name for name, f in model.model_fields.items() if name != "source"]


def _check_graph(wf: Workflow, data: Any, file: str) -> Iterator[Problem]:
    raw_steps = data.get("steps", [])

    def where(index: int, key: str | None = None) -> tuple[int | None, str]:
        loc: tuple[int | str, ...] = ("steps", index) if key is None else ("steps", index, key)
        return _line_of(data, loc), _field_name(data, loc)

    seen: dict[str, int] = {}
    for i, step in enumerate(wf.steps):
        if step.id in seen:
            line, field = where(i, "id")
            yield Problem(
                file,
                line,
                field,
                f"duplicate step id {step.id!r} (first at steps[{seen[step.id]}])",
            )
        else:
            seen[step.id] = i
    deps = wf.dependencies()
    for i, step in enumerate(wf.steps):
        for need in step.needs or []:
            if need not in seen:
                line, field = where(i, "needs")
                yield Problem(
                    file, line, field, f"unknown step {need!r}; steps are: {', '.join(seen)}"
                )
            elif need == step.id:
                line, field = where(i, "needs")
                yield Problem(file, line, field, "a step cannot need itself")
    cycle = _find_cycle(deps, seen)
    if cycle:
        line, field = where(seen[cycle[0]], "needs")
        yield Problem(file, line, field, "dependency cycle: " + " -> ".join(cycle))
        return
    runs_before = _Reachability(deps)
    for i, step in enumerate(wf.steps):
        for key, tmpl_text in _templated_fields(step):
            try:
                nodes = (
                    [expressions.condition(tmpl_text)]
                    if key == "if"
                    else list(expressions.template(tmpl_text).nodes())
                )
            except ExpressionError as exc:
                line, field = where(i, key)
                yield Problem(file, line, field, str(exc))
                continue
            for node in nodes:
                for ref in expressions.refs(node):
                    message = _check_ref(ref, wf, step, runs_before)
                    if message:
                        line, field = where(i, key)
                        yield Problem(file, line, field, message)
    del raw_steps


def _templated_fields(step: Step) -> Iterator[tuple[str, str]]:
    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, Mapping):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)

    for key in ("run", "log", "python"):
        value = getattr(step, key)
        if isinstance(value, str):
            yield key, value
    if isinstance(step.sleep, str):
        yield "sleep", step.sleep
    if step.approval is not None:
        yield "approval", step.approval.prompt
    if step.http is not None:
        for text in strings(
            [step.http.url, step.http.headers, step.http.json_body, step.http.body]
        ):
            yield "http", text
    for text in strings(step.with_):
        yield "with", text
    for text in strings(step.env):
        yield "env", text
    if isinstance(step.if_, str):
        yield "if", step.if_


def _check_ref(
    ref: expressions.Ref, wf: Workflow, step: Step, runs_before: _Reachability
) -> str | None:
    root, rest = ref.path[0], ref.path[1:]
    if root == "params":
        if not rest or rest[0] not in wf.params:
            known = ", ".join(sorted(wf.params)) or "none declared"
            return f"{ref} names an unknown parameter (params: {known})"
    elif root == "secrets":
        if not rest or rest[0] not in wf.secrets:
            declared = ", ".join(wf.secrets) or "none"
            return f"{ref} is not declared under secrets: (declared: {declared})"
    elif root == "env":
        if len(rest) != 1:
            return f"{ref}: write env.NAME"
    elif root == "execution":
        if rest != ("id",):
            return f"{ref}: only execution.id can be read"
    elif root == "steps":
        if not rest:
            return f"{ref}: write steps.ID.output or steps.ID.status"
        target = str(rest[0])
        if not runs_before.knows(target):
            return f"{ref} names an unknown step {target!r}"
        if len(rest) < 2 or rest[1] not in ("output", "status"):
            return f"{ref}: a step exposes only .output and .status"
        if rest[1] == "status" and len(rest) > 2:
            return f"{ref}: .status has no fields"
        if target == step.id or not runs_before(target, step.id):
            return f"{ref}: step {target!r} does not run before {step.id!r}; add it to needs"
    return None


def _find_cycle(deps: dict[str, list[str]], known: Mapping[str, int]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in deps.get(node, []):
            if nxt not in known or nxt == node:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in deps:
        if node not in state and (found := visit(node)):
            return found
    return None


class _Reachability:
    """Does step A always finish before step B? (Is A an ancestor of B?)

    Each step's ancestors are one integer used as a bit set, built in dependency
    order: linear in the steps, where a set per step would be quadratic on a long chain.
    """

    def __init__(self, deps: dict[str, list[str]]) -> None:
        self._index = {step: i for i, step in enumerate(deps)}
        self._bits: dict[str, int] = {}
        for step in _topological(deps):
            bits = 0
            for need in deps[step]:
                if need in self._index:
                    bits |= self._bits.get(need, 0) | (1 << self._index[need])
            self._bits[step] = bits

    def knows(self, step: str) -> bool:
        return step in self._index

    def __call__(self, ancestor: str, step: str) -> bool:
        index = self._index.get(ancestor)
        return index is not None and bool(self._bits.get(step, 0) >> index & 1)


def _topological(deps: dict[str, list[str]]) -> list[str]:
    """Steps with each after the steps it needs (the graph has no cycle by now)."""
    order: list[str] = []
    done: set[str] = set()
    entered: set[str] = set()  # guards against a loop (duplicate ids make one)
    for root in deps:
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                done.add(node)
                order.append(node)
                continue
            if node in done or node in entered or node not in deps:
                continue
            entered.add(node)
            stack.append((node, True))
            stack.extend((need, False) for need in deps[node] if need not in entered)
    return order


def load(path: str | Path) -> Workflow:
    """Read and validate a workflow file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DefinitionError(
            [Problem(str(path), None, "", f"cannot read the file: {reason}")]
        ) from None
    return parse(text, str(path))


def workflow_files(path: str | Path) -> list[Path]:
    """The workflow files at ``path``: the file itself, or a folder's ``*.yaml``/``*.yml``."""
    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
    return [p]
