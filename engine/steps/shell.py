"""The ``run:`` step: a shell command in its own process group (see :mod:`.processes`).

Expression values never become shell syntax: each ``${{ … }}`` in the command stands as
a reference to an environment variable, quoted to suit where it stands, and the value
travels in the child's environment (see :mod:`engine.definition.commands`).

Its shell runs in a process group (and a cgroup, where there are) of its own; nothing it
starts outlives the step (see :mod:`.processes` for what is caught where). Its stdout and
stderr are read from one place, in the order they were written (see :mod:`.shell_pipes`).

Named outputs: the command may write ``name=value`` lines (or ``name<<EOF`` … ``EOF``)
to the file named by ``$WFE_OUTPUT``, as GitHub Actions' ``$GITHUB_OUTPUT``; later steps
read them as ``${{ steps.ID.outputs.name }}``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

import trio

from engine.definition import Step, commands, expressions
from engine.errors import StepError
from engine.steps import processes, shell_pipes
from engine.steps.context import MAX_LINE, OUTPUT_CAP, Outcome, StepContext, cap_text

MAX_LOG_LINES = 20_000  # lines of a step's log kept
MAX_LOG_BYTES = 16 * 1024 * 1024  # and bytes
# Bytes of one line read before the rest of it is dropped: the log keeps MAX_LINE
# characters of it, cut after its secrets are masked (the slack covers a secret cut here).
LINE_BYTES = 4 * MAX_LINE + 4096
QUICK = 0.05  # seconds a command may run before its output streams into the log
OUTPUT_ENV = "WFE_OUTPUT"  # the file a step writes its named outputs to
MAX_OUTPUTS = 1024 * 1024  # bytes of it read, as GitHub's limit
OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@functools.cache
def _bash() -> str | None:
    return shutil.which("bash")


def shell_argv(script: str) -> list[str]:
    bash = _bash()
    if bash:
        return [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    return ["/bin/sh", "-ec", script]


async def execute(ctx: StepContext, step: Step) -> Outcome:
    assert step.run is not None
    command = commands.compile_command(expressions.template(step.run))
    script = command.script
    env = dict(ctx.environ)
    for i, (node, place) in enumerate(zip(command.nodes, command.places, strict=True)):
        value = expressions.evaluate(node, ctx.expression_context)
        text = commands.number(value, node) if place == "arithmetic" else expressions.to_text(value)
        env[f"WFE_EXPR_{i}"] = text
    for key, value in step.env.items():
        env[key] = ctx.render_text(value)
    env[processes.TOKEN] = ctx.token
    fd, output_file = tempfile.mkstemp(prefix="wfe-output-")  # mode 0600: its owner only
    os.close(fd)
    env[OUTPUT_ENV] = output_file
    try:
        outcome = await _run(ctx, script, env)
        named = read_outputs(Path(output_file)) if outcome.exit_code == 0 else {}
        return dataclasses.replace(outcome, outputs=named or None)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(output_file)


def read_outputs(path: Path) -> dict[str, str]:
    """The named outputs a step wrote to ``$WFE_OUTPUT``, as GitHub Actions reads
    ``$GITHUB_OUTPUT``: ``name=value`` lines, and ``name<<DELIMITER`` … ``DELIMITER``
    for a value of several lines. Refused with the line that is wrong."""
    try:
        size = path.stat().st_size
    except OSError:
        return {}  # the step removed it: nothing written
    if size > MAX_OUTPUTS:
        raise StepError(f"wrote {size:,} bytes to ${OUTPUT_ENV}; at most {MAX_OUTPUTS:,}")
    text = path.read_bytes().decode("utf-8", errors="replace")
    found: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].removesuffix("\r")
        i += 1
        if not line.strip():
            continue
        heredoc = re.fullmatch(r"([^=<]+)<<(.+)", line)
        simple = re.fullmatch(r"([^=]+)=(.*)", line)
        matched = heredoc or simple
        name = matched.group(1) if matched is not None else ""
        if not name or not OUTPUT_NAME.fullmatch(name):
            raise StepError(
                f"${OUTPUT_ENV} line {i}: {line[:80]!r} is neither name=value nor"
                " name<<DELIMITER (a name is letters, digits, - and _)"
            )
        if heredoc:
            end = heredoc.group(2)
            value: list[str] = []
            while i < len(lines) and lines[i].removesuffix("\r") != end:
                value.append(lines[i].removesuffix("\r"))
                i += 1
            if i >= len(lines):
                raise StepError(f"${OUTPUT_ENV}: {name}<<{end} is never closed by a line {end}")
            i += 1
            found[name] = "\n".join(value)
        else:
            assert simple is not None
            found[name] = simple.group(2)
    return found


async def _run(ctx: StepContext, script: str, env: dict[str, str]) -> Outcome:
    pipes = shell_pipes.Pipes()
    try:
        assert pipes.writers is not None
        proc, tracked = await processes.launch(shell_argv, script, env, ctx.token, pipes.writers)
    except OSError as exc:
        pipes.close()
        raise StepError(f"cannot start the shell: {exc.strerror or exc}") from exc
    except BaseException:
        pipes.close()
        raise
    pipes.started()

    out = _Output(ctx)
    lines = out.streams

    async def read() -> None:
        await pipes.read(lines["stdout"], lines["stderr"], full=lambda: out.log_full)

    ctx.started(proc.pid)
    try:
        # Most commands are short: read until both pipes end, without a task of its
        # own; past QUICK (or while something it left holds a pipe) the reading goes
        # on beside the wait for its end, and the ending of what it left.
        with trio.move_on_after(QUICK):
            await read()
        if pipes.done:
            await proc.wait()
            await tracked.end_leftovers(ctx.kill_grace)
        else:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                await proc.wait()
                await tracked.end_leftovers(ctx.kill_grace)
    except BaseException:
        with trio.CancelScope(shield=True):
            await tracked.terminate(proc, ctx.kill_grace)
        raise
    finally:
        tracked.release()
        pipes.close()
        processes.close(proc)

    printed = lines["stdout"].printed
    output = cap_text("\n".join(out.kept), OUTPUT_CAP, ctx.mask, printed=printed)
    code = proc.returncode
    if code != 0:
        last = lines["stderr"].last
        detail = f": {ctx.mask.cut(last, 300)}" if last is not None else ""
        if code is not None and code < 0:
            raise StepError(
                f"killed by signal {signal.Signals(-code).name}{detail}", exit_code=code
            )
        raise StepError(f"exited with code {code}{detail}", exit_code=code)
    return Outcome(output=output, exit_code=code)


class _Output:
    """What the step keeps of what its shell prints: its log, its output, stderr's end.

    The log holds at most MAX_LOG_LINES lines and MAX_LOG_BYTES bytes, each line masked
    and then cut to MAX_LINE; the output is stdout's first OUTPUT_CAP bytes. Once both
    are full the streams are only counted (and stderr's last line kept), a chunk at a
    time: a step that prints 200 MB costs the reading of it, not a line's work each.
    """

    def __init__(self, ctx: StepContext) -> None:
        self._ctx = ctx
        self.kept: list[str] = []  # stdout's lines, up to OUTPUT_CAP bytes
        self._kept_bytes = 0
        self._lines = self._bytes = 0  # logged so far
        self.streams = {"stdout": _Lines("stdout", self), "stderr": _Lines("stderr", self)}

    @property
    def log_full(self) -> bool:
        """No more lines go to the log."""
        return self._lines > MAX_LOG_LINES or self._bytes > MAX_LOG_BYTES

    @property
    def full(self) -> bool:
        return self._kept_bytes > OUTPUT_CAP and (
            self._lines > MAX_LOG_LINES or self._bytes > MAX_LOG_BYTES
        )

    def line(self, stream: str, text: str, size: int) -> None:
        """One line as read (``size``: its bytes as printed, however many were kept)."""
        if stream == "stdout" and self._kept_bytes <= OUTPUT_CAP:
            self.kept.append(text)
            self._kept_bytes += len(text.encode()) + 1
        if self._lines > MAX_LOG_LINES or self._bytes > MAX_LOG_BYTES:
            return
        mask = self._ctx.mask
        masked = mask.text(text)  # masked first: no secret's start is left at a cut
        if len(masked) > MAX_LINE or size > LINE_BYTES:
            masked = f"{mask.edge(masked[:MAX_LINE])} [line cut: {size:,} bytes]"
        self._lines += 1
        self._bytes += len(masked) + 1  # as the log keeps it
        if self._lines > MAX_LOG_LINES or self._bytes > MAX_LOG_BYTES:
            self._ctx.log(
                f"[log truncated: more than {MAX_LOG_LINES:,} lines or"
                f" {MAX_LOG_BYTES // 1024 // 1024} MiB from this step]",
                "system",
            )
            return
        self._ctx.log(masked, stream)


class _Lines:
    """One output stream cut into lines, whichever way its bytes arrive; linear in them.

    A line longer than LINE_BYTES keeps its first LINE_BYTES bytes and drops the rest up
    to its newline: memory stays bounded whatever a step prints.
    """

    def __init__(self, stream: str, out: _Output) -> None:
        self._stream = stream
        self._out = out
        self._pending = bytearray()  # the line being read, its first LINE_BYTES bytes
        self._size = 0  # its bytes so far, kept or not
        self.printed = 0  # bytes of the stream
        self.last: str | None = None  # its last whole line

    def feed(self, chunk: bytes | bytearray) -> None:
        self.printed += len(chunk)
        if self._out.full:
            self._count(chunk)
            return
        pieces: list[bytes] = bytes(chunk).split(b"\n")
        whole, rest = pieces[:-1], pieces[-1]
        for i, piece in enumerate(whole):
            self._add(piece)
            self._size += 1  # its newline
            self._emit()
            if self._out.full:  # nothing more to keep: count the rest of the chunk
                self._count(b"\n".join([*whole[i + 1 :], rest]))
                return
        self._add(rest)

    def end(self) -> None:
        if self._size:
            self._emit()

    def _add(self, piece: bytes | bytearray) -> None:
        room = LINE_BYTES - len(self._pending)
        if room > 0:
            self._pending += piece[:room]
        self._size += len(piece)

    def _count(self, chunk: bytes | bytearray) -> None:
        """Follow the lines without handing them on: only the last whole one is kept."""
        end = chunk.rfind(b"\n")
        if end < 0:
            self._add(chunk)
            return
        start = chunk.rfind(b"\n", 0, end) + 1
        if start:
            self._pending, self._size = bytearray(), 0
        self._add(chunk[start:end])
        self.last = self._decode()
        self._pending, self._size = bytearray(), 0
        self._add(chunk[end + 1 :])

    def _decode(self) -> str:
        return self._pending.decode(errors="replace").removesuffix("\r")  # CRLF printers

    def _emit(self) -> None:
        text = self._decode()
        self.last = text
        self._out.line(self._stream, text, self._size)
        self._pending = bytearray()
        self._size = 0
