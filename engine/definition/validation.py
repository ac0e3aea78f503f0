"""Parsing and validation: every problem of a file, with its line and field, at once."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from engine.definition import commands, expressions, graph, loader
from engine.definition.loader import field_name, line_of
from engine.definition.models import (
    Approval,
    Email,
    Hooks,
    Http,
    Retry,
    Schedule,
    Smtp,
    Step,
    Workflow,
)
from engine.errors import DefinitionError, ExpressionError, Problem

_ALIASES = {"with_": "with", "if_": "if", "json_body": "json"}


MAX_STEPS = 20_000


def parse(text: str, file: str = "<workflow>") -> Workflow:
    """Parse and validate one workflow file's text."""
    try:
        data = loader.read(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        context = exc.context or ""
        if context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
            context += f" (from line {exc.context_mark.line + 1})"
        message = " ".join(str(p) for p in (context, exc.problem) if p)
        raise DefinitionError([Problem(file, line, "", f"malformed YAML: {message}")]) from exc
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(file, None, "", f"malformed YAML: {exc}")]) from exc
    except loader.TooBig as exc:
        raise DefinitionError([Problem(file, exc.line, "", str(exc))]) from exc
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
    steps = data.get("steps")
    if isinstance(steps, list) and len(steps) > MAX_STEPS:
        line = line_of(data, ("steps",))
        message = f"{len(steps):,} steps; a workflow has at most {MAX_STEPS:,}"
        raise DefinitionError([Problem(file, line, "steps", message)])
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(_problems(exc, data, file)) from exc
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
            line = line_of(data, loc[:-1])
            problems.append(Problem(file, line, field_name(data, loc[:-1]), message))
            continue
        problems.append(Problem(file, line_of(data, loc), field_name(data, loc), message))
    # A union (sleep: duration | template) reports once per member; keep one.
    unique: dict[tuple[int | None, str], Problem] = {}
    for p in problems:
        unique.setdefault((p.line, p.field), p)
    return list(unique.values())


_NESTED: dict[str, type[BaseModel]] = {
    "steps": Step,
    "on": Hooks,
    "success": Step,
    "failure": Step,
    "cancelled": Step,
    "always": Step,
    "retry": Retry,
    "http": Http,
    "email": Email,
    "smtp": Smtp,
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


@dataclass
class _Group:
    """One graph of steps: the main ones (``steps``), or one hook list (``on.failure``)."""

    loc: tuple[str, ...]
    steps: list[Step]
    runs_before: graph.Reachability | None = None

    @property
    def is_hook(self) -> bool:
        return self.loc[0] == "on"

    @property
    def label(self) -> str:
        return ".".join(self.loc)


def _check_graph(wf: Workflow, data: Any, file: str) -> Iterator[Problem]:
    groups = [_Group(("steps",), list(wf.steps))] + [
        _Group(("on", name), steps) for name, steps in wf.on.lists() if steps
    ]

    def where(g: _Group, index: int, key: str | None = None) -> tuple[int | None, str]:
        loc: tuple[int | str, ...] = (*g.loc, index) if key is None else (*g.loc, index, key)
        return line_of(data, loc), field_name(data, loc)

    seen: dict[str, str] = {}  # step id -> where it first is
    for g in groups:
        for i, step in enumerate(g.steps):
            if step.id in seen:
                line, field = where(g, i, "id")
                yield Problem(
                    file, line, field, f"duplicate step id {step.id!r} (first at {seen[step.id]})"
                )
            else:
                seen[step.id] = f"{g.label}[{i}]"
    main_ids = {s.id for s in wf.steps}
    broken = False
    for g in groups:
        ids = {s.id: i for i, s in enumerate(g.steps)}
        deps = graph.dependencies(g.steps)
        for i, step in enumerate(g.steps):
            if g.is_hook and step.kind == "approval":
                line, field = where(g, i)
                yield Problem(file, line, field, "a hook cannot wait for a person's approval")
            for need in step.needs or []:
                line, field = where(g, i, "needs")
                if need == step.id:
                    yield Problem(file, line, field, "a step cannot need itself")
                elif need in ids:
                    continue
                elif g.is_hook and need in main_ids:
                    yield Problem(
                        file,
                        line,
                        field,
                        f"{need!r} is a main step: hooks run after all of them, and their"
                        f" needs name steps of {g.label} only",
                    )
                else:
                    yield Problem(
                        file, line, field, f"unknown step {need!r}; steps are: {', '.join(ids)}"
                    )
        cycle = graph.find_cycle(deps, ids)
        if cycle:
            broken = True
            line, field = where(g, ids[cycle[0]], "needs")
            shown = (
                cycle if len(cycle) <= 12 else [*cycle[:6], f"({len(cycle) - 9} more)", *cycle[-3:]]
            )
            yield Problem(file, line, field, "dependency cycle: " + " -> ".join(shown))
        else:
            g.runs_before = graph.Reachability(deps)
    if broken:
        return
    for g in groups:
        for i, step in enumerate(g.steps):
            yield from _check_step(wf, g, step, file, functools.partial(where, g, i))


def _check_step(
    wf: Workflow,
    g: _Group,
    step: Step,
    file: str,
    where: Callable[[str], tuple[int | None, str]],
) -> Iterator[Problem]:
    if step.email is not None and step.email.smtp.password is not None:
        message = _secret_only(step.email.smtp.password)
        if message:
            yield Problem(file, *where("email"), message)
    for problem in _check_foreach(step):
        yield Problem(file, *where("foreach"), problem)
    for key, tmpl_text in _templated_fields(step):
        try:
            nodes = (
                [expressions.condition(tmpl_text)]
                if key == "if"
                else list(expressions.template(tmpl_text).nodes())
            )
        except ExpressionError as exc:
            yield Problem(file, *where(key), str(exc))
            continue
        for node in nodes:
            leak = _secret_parts(node)
            if leak:
                yield Problem(file, *where(key), leak)
            for ref in expressions.refs(node):
                message = _check_item(ref, step, key) or _check_ref(ref, wf, step, g)
                if message:
                    yield Problem(file, *where(key), message)
        if key == "run":
            message = _check_command(tmpl_text, wf)
            if message:
                yield Problem(file, *where(key), message)


def _all_steps(wf: Workflow) -> list[Step]:
    return [*wf.steps, *wf.hook_steps]


OUTPUT_KINDS = ("run", "python", "http", "email", "workflow")  # steps with named outputs


def _has_outputs(wf: Workflow, step_id: str) -> bool:
    return any(
        s.id == step_id and s.kind in OUTPUT_KINDS and s.foreach is None for s in _all_steps(wf)
    )


ITEM_ROOM = 190  # of a foreach step's id: its items' ids add [label] (the store keeps 200)


def _check_foreach(step: Step) -> Iterator[str]:
    spec = step.foreach
    if spec is None:
        return
    if len(step.id) > ITEM_ROOM:
        yield f"a foreach step's id has at most {ITEM_ROOM} characters (its items add [label])"
    lists = spec.values() if isinstance(spec, dict) else [spec]
    for value in lists:
        if isinstance(value, str):
            try:
                single = expressions.template(value).is_single
            except ExpressionError:
                continue  # said with the expressions' own checks
            if not single:
                yield (
                    f"{value[:60]!r} is not a list: write a list, a matrix of lists, or one"
                    " ${{ }} expression that gives a list"
                )


def _check_item(ref: expressions.Ref, step: Step, key: str) -> str | None:
    """``item`` (and ``item.KEY``) inside a foreach step, where each item is known."""
    if ref.path[0] != "item":
        return None
    if step.foreach is None:
        return f"{ref}: item is known only in a step with foreach:"
    if key in ("if", "foreach"):
        return f"{ref}: item is known inside the step's action, not in its {key}:"
    rest = ref.path[1:]
    if isinstance(step.foreach, dict) and rest and rest[0] not in step.foreach:
        return f"{ref}: the matrix has no key {rest[0]!r} (keys: {', '.join(step.foreach)})"
    return None


def _secret_only(text: str) -> str | None:
    """A password in a file is refused: it must be a secret, ``${{ secrets.NAME }}``."""
    try:
        tmpl = expressions.template(text)
    except ExpressionError:
        return None  # said with the expressions' own checks
    node = next(tmpl.nodes(), None) if tmpl.is_single else None
    if isinstance(node, expressions.Ref) and node.path[0] == "secrets":
        return None
    return "smtp.password: give a secret, ${{ secrets.NAME }}, never the password itself"


def _secret_parts(node: expressions.Node) -> str | None:
    """A fromJSON() of a secret: its parts are not the secret, so no mask would hide them."""
    for n in expressions.walk(node):
        if isinstance(n, expressions.Call) and n.name == "fromJSON":
            for arg in n.args:
                if any(ref.path[0] == "secrets" for ref in expressions.refs(arg)):
                    return (
                        "fromJSON() of a secret would show its parts unmasked; keep each"
                        " secret whole (declare one secret per value)"
                    )
    return None


def _check_command(text: str, wf: Workflow) -> str | None:
    """Whether every ``${{ }}`` of a ``run:`` stands where its value arrives as data."""
    try:
        command = commands.compile_command(expressions.template(text))
    except ExpressionError as exc:
        return str(exc)
    return commands.check_numbers(command, wf.params)


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
    if step.email is not None:
        mail, smtp = step.email, step.email.smtp
        for text in strings([mail.to, mail.cc, mail.subject, mail.body, mail.from_]):
            yield "email", text
        for text in strings([smtp.host, smtp.user, smtp.password]):
            yield "email", text
    for text in strings(step.with_):
        yield "with", text
    for text in strings(step.env):
        yield "env", text
    if isinstance(step.if_, str):
        yield "if", step.if_
    if step.foreach is not None:
        for text in strings(step.foreach):
            yield "foreach", text


EXECUTION_FIELDS = ("id", "status", "error", "failed_steps")  # the last three in hooks


def _check_ref(ref: expressions.Ref, wf: Workflow, step: Step, g: _Group) -> str | None:
    root, rest = ref.path[0], ref.path[1:]
    if ref.partial and not rest and root in ("params", "env"):
        return None  # params.*, env[...]: what is there at run time
    if ref.partial and root == "steps" and len(rest) < 1:
        # steps.* would read whichever steps happen to have finished: name them.
        return f"{ref}.* or a computed step id: name the steps, e.g. steps.ID.status"
    if root == "params":
        if not rest or rest[0] not in wf.params:
            known = ", ".join(sorted(wf.params)) or "none declared"
            return f"{ref} names an unknown parameter (params: {known})"
    elif root == "secrets":
        if not rest or rest[0] not in wf.secrets:
            declared = ", ".join(wf.secrets) or "none"
            return f"{ref} is not declared under secrets: (declared: {declared})"
    elif root == "env":
        if len(rest) != 1 and not ref.partial:
            return f"{ref}: write env.NAME"
    elif root == "execution":
        if (
            not rest
            or rest[0] not in EXECUTION_FIELDS
            or (len(rest) > 1 and rest[0] != "failed_steps")
        ):
            return f"{ref}: execution has id, and in on: hooks status, error and failed_steps"
        if rest[0] != "id" and not g.is_hook:
            return f"{ref}: known once the execution has ended, in its on: hooks"
    elif root == "steps":
        if not rest:
            return f"{ref}: write steps.ID.output or steps.ID.status"
        target = str(rest[0])
        main = wf.graph.by_id
        in_group = g.runs_before is not None and g.runs_before.knows(target)
        if not in_group and not (g.is_hook and target in main):
            other = next(
                (h for h, steps in wf.on.lists() if any(s.id == target for s in steps)), None
            )
            if other is not None:
                return (
                    f"{ref}: {target!r} is a step of on.{other}; a step reads the main steps'"
                    " results (a hook also those before it in its own list)"
                )
            return f"{ref} names an unknown step {target!r}"
        if len(rest) < 2:
            if not ref.partial:  # steps.ID[...] and steps.ID.* read what the step has
                return f"{ref}: a step exposes only .output and .status"
        elif rest[1] not in ("output", "outputs", "status"):
            return f"{ref}: a step exposes only .output, .outputs and .status"
        elif rest[1] == "status" and len(rest) > 2:
            return f"{ref}: .status has no fields"
        elif rest[1] == "outputs" and not _has_outputs(wf, target):
            of = next((s for s in _all_steps(wf) if s.id == target), None)
            if of is not None and of.foreach is not None:
                return f"{ref}: a foreach step's output is the list of its items' outputs"
            kind = of.kind if of is not None else "?"
            return (
                f"{ref}: a {kind} step has no named outputs"
                " (run, python, http, email and workflow do)"
            )
        if in_group and (
            target == step.id or g.runs_before is None or not g.runs_before(target, step.id)
        ):
            return f"{ref}: step {target!r} does not run before {step.id!r}; add it to needs"
    return None


def load(path: str | Path) -> Workflow:
    """Read and validate a workflow file."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > loader.MAX_BYTES:  # refused before it is read
            limit = f"a workflow file has at most {loader.MAX_BYTES:,}"
            raise DefinitionError(
                [Problem(str(path), None, "", f"the file is {size:,} bytes; {limit}")]
            )
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DefinitionError(
            [Problem(str(path), None, "", f"cannot read the file: {reason}")]
        ) from exc
    return parse(text, str(path))


def workflow_files(path: str | Path) -> list[Path]:
    """The workflow files at ``path``: the file itself, or a folder's ``*.yaml``/``*.yml``."""
    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
    return [p]
