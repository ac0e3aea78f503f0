"""The ``run:`` step: a shell command in its own process group (see :mod:`.processes`).

Expression values never become shell syntax: each ``${{ … }}`` in the command is replaced
by a reference to an environment variable (``"${WFE_EXPR_0}"``, quoted to suit where it
stands) and the value travels in the child's environment. The shell expands it as data.

Its shell runs in a process group of its own; nothing it starts outlives the step.
"""

from __future__ import annotations

import functools
import shutil
import signal
from collections.abc import Callable, Iterator

import trio

from engine.definition import Step, expressions
from engine.errors import StepError
from engine.steps import processes
from engine.steps.context import OUTPUT_CAP, Outcome, StepContext, cap_text

MAX_LOG_LINES = 20_000
MAX_LINE = 16 * 1024
QUICK = 0.05  # seconds a command may run before its output streams into the log


@functools.cache
def _bash() -> str | None:
    return shutil.which("bash")


def shell_argv(script: str) -> list[str]:
    bash = _bash()
    if bash:
        return [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    return ["/bin/sh", "-ec", script]


def _quote_states(text: str, state: str) -> Iterator[str]:
    """Track the shell quoting state through literal text; yields the final state."""
    i = 0
    while i < len(text):
        ch = text[i]
        if state == "'":
            if ch == "'":
                state = ""
        elif ch == "\\":
            i += 1  # the next character is escaped, in "" and outside
        elif state == '"':
            if ch == '"':
                state = ""
        elif ch == "'":
            state = "'"
        elif ch == '"':
            state = '"'
        elif ch == "#" and (i == 0 or text[i - 1] in " \t\n;|&("):
            # A comment runs to the end of the line; quotes in it mean nothing.
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        i += 1
    yield state


def compile_command(template: expressions.Template) -> tuple[str, list[expressions.Node]]:
    """The script with placeholders, and the expressions whose values fill them."""
    out: list[str] = []
    nodes: list[expressions.Node] = []
    state = ""
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
            state = next(_quote_states(part, state))
            continue
        name = f"WFE_EXPR_{len(nodes)}"
        nodes.append(part)
        if state == '"':
            out.append(f"${{{name}}}")
        elif state == "'":
            out.append(f"'\"${{{name}}}\"'")
        else:
            out.append(f'"${{{name}}}"')
    return "".join(out), nodes


async def execute(ctx: StepContext, step: Step) -> Outcome:
    assert step.run is not None
    script, nodes = compile_command(expressions.template(step.run))
    env = dict(ctx.environ)
    for i, node in enumerate(nodes):
        env[f"WFE_EXPR_{i}"] = expressions.to_text(
            expressions.evaluate(node, ctx.expression_context)
        )
    for key, value in step.env.items():
        env[key] = ctx.render_text(value)
    env[processes.TOKEN] = ctx.token

    try:
        proc = await processes.start(shell_argv(script), env)
    except OSError as exc:
        raise StepError(f"cannot start the shell: {exc.strerror or exc}") from exc

    stdout_chunks: list[str] = []
    stdout_size = 0
    last_stderr: list[str] = []
    lines_logged = 0

    def take(stream: str, line: str) -> None:
        nonlocal stdout_size, lines_logged
        if stream == "stdout" and stdout_size <= OUTPUT_CAP:
            stdout_chunks.append(line)
            stdout_size += len(line) + 1
        if stream == "stderr":
            last_stderr[:] = [line]
        lines_logged += 1
        if lines_logged <= MAX_LOG_LINES:
            ctx.log(line[:MAX_LINE], stream)
        elif lines_logged == MAX_LOG_LINES + 1:
            ctx.log(f"[log truncated: more than {MAX_LOG_LINES:,} lines from this step]", "system")

    lines = {"stdout": _Lines("stdout", take), "stderr": _Lines("stderr", take)}

    async def pump(receive: trio.abc.ReceiveStream, stream: str) -> None:
        async for chunk in receive:
            lines[stream].feed(chunk)
        lines[stream].end()

    pgid = proc.pid
    ctx.started(pgid)
    try:
        # Most commands are short: wait for the end first and read both pipes then,
        # without streams, tasks or their registrations; past QUICK, or while something
        # still holds a pipe, the output streams into the log as it comes.
        drained = False
        if isinstance(proc, processes.Child):
            with trio.move_on_after(QUICK):
                await proc.wait()
            drained = proc.returncode is not None and proc.drain(lines)
        if not drained:
            async with trio.open_nursery() as nursery:
                stdout, stderr = processes.streams(proc)
                nursery.start_soon(pump, stdout, "stdout")
                nursery.start_soon(pump, stderr, "stderr")
                await proc.wait()
                await processes.end_leftovers(pgid, ctx.kill_grace)
        else:
            await processes.end_leftovers(pgid, ctx.kill_grace)
    except BaseException:
        with trio.CancelScope(shield=True):
            await processes.terminate(proc, pgid, ctx.kill_grace)
        raise
    finally:
        await processes.close(proc)

    output = cap_text("\n".join(stdout_chunks), OUTPUT_CAP)
    code = proc.returncode
    if code != 0:
        detail = f": {last_stderr[0][:300]}" if last_stderr else ""
        if code is not None and code < 0:
            raise StepError(
                f"killed by signal {signal.Signals(-code).name}{detail}", exit_code=code
            )
        raise StepError(f"exited with code {code}{detail}", exit_code=code)
    return Outcome(output=output, exit_code=code)


class _Lines:
    """One output stream cut into lines, whichever way its bytes arrive."""

    def __init__(self, stream: str, take: Callable[[str, str], None]) -> None:
        self._stream = stream
        self._take = take
        self._pending = b""

    def feed(self, chunk: bytes | bytearray) -> None:
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for line in lines:
            self._take(self._stream, line.decode(errors="replace").rstrip("\r"))

    def end(self) -> None:
        if self._pending:
            self._take(self._stream, self._pending.decode(errors="replace"))
            self._pending = b""
