"""The ``run:`` step: a shell command in its own process group.

Expression values never become shell syntax: each ``${{ … }}`` in the command is replaced
by a reference to an environment variable (``"${WFE_EXPR_0}"``, quoted to suit where it
stands) and the value travels in the child's environment. The shell expands it as data.

The child runs in a new session (its own process group). When the step is cancelled or
times out the whole group gets SIGTERM, then SIGKILL after a grace period; when the
command ends, anything it left behind in its group gets the same, so no child outlives
its step.

Its environment carries ``WFE_STEP_RUN`` (execution/step/attempt) and ``WFE_RUNNER`` (the
runner's id), and the group's id is recorded on the step run: when its runner dies
(kill -9), whoever takes the execution over on the same host ends the group — checking
first, through ``/proc``, that the group still holds a process of that attempt, so a
reused id is never signalled. A group the runner had no time to record is found through
``/proc`` by those two variables.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import trio

from engine import expressions
from engine.definition import Step
from engine.errors import StepError
from engine.steps.context import OUTPUT_CAP, Outcome, StepContext, cap_text

TOKEN = "WFE_STEP_RUN"
RUNNER = "WFE_RUNNER"
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
    env[TOKEN] = ctx.token

    try:
        proc = await _start(shell_argv(script), env)
    except OSError as exc:
        raise StepError(f"cannot start the shell: {exc.strerror or exc}") from None

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
        if isinstance(proc, _Child):
            with trio.move_on_after(QUICK):
                await proc.wait()
            drained = proc.returncode is not None and proc.drain(lines)
        if not drained:
            async with trio.open_nursery() as nursery:
                stdout, stderr = (
                    proc.streams() if isinstance(proc, _Child) else (proc.stdout, proc.stderr)
                )
                assert stdout is not None and stderr is not None
                nursery.start_soon(pump, stdout, "stdout")
                nursery.start_soon(pump, stderr, "stderr")
                await proc.wait()
                await _end_leftovers(pgid, ctx.kill_grace)
        else:
            await _end_leftovers(pgid, ctx.kill_grace)
    except BaseException:
        with trio.CancelScope(shield=True):
            await _terminate(proc, pgid, ctx.kill_grace)
        raise
    finally:
        await _close(proc)

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


async def _end_leftovers(pgid: int, grace: float) -> None:
    """The command is done; whatever it left running in its group must go too (or the
    pipes it holds would keep the step open)."""
    if _signal_group(pgid, signal.SIGTERM):
        with trio.move_on_after(grace):
            await _wait_group_gone(pgid)
        _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


async def _wait_group_gone(pgid: int) -> None:
    # No event tells when the last member of a process group exits: poll.
    while _signal_group(pgid, 0):  # noqa: ASYNC110
        await trio.sleep(0.05)


async def _terminate(proc: trio.Process | _Child, pgid: int, grace: float) -> None:
    _signal_group(pgid, signal.SIGTERM)
    with trio.move_on_after(grace):
        await proc.wait()
        await _wait_group_gone(pgid)
    _signal_group(pgid, signal.SIGKILL)
    await proc.wait()


async def _close(proc: trio.Process | _Child) -> None:
    if isinstance(proc, _Child):
        await proc.aclose()
        return
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()


class _Child:
    """A shell started on the trio thread, waited for through a pidfd (Linux).

    ``trio.lowlevel.open_process`` starts each process on a worker thread, in case
    ``fork``/``exec`` blocks; for a short command that hop is a fifth of the step (the
    way asyncio does it: the spawn itself takes well under a millisecond). Its pipes
    stay plain descriptors until someone needs to wait on them (:meth:`streams`): a
    command that is over by then is read to the end at once (:meth:`drain`).
    """

    def __init__(self, popen: subprocess.Popen[bytes], out: int, err: int) -> None:
        self._popen = popen
        self.pid = popen.pid
        self._pidfd = os.pidfd_open(popen.pid)
        self._fds = {"stdout": out, "stderr": err}
        self._streams: list[trio.lowlevel.FdStream] = []

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def wait(self) -> int:
        if self._popen.returncode is None:
            await trio.lowlevel.wait_readable(self._pidfd)
            self._popen.wait()
        return self._popen.returncode

    def drain(self, lines: dict[str, _Lines]) -> bool:
        """Read both pipes to their end without waiting; False if one is still open."""
        for stream, fd in self._fds.items():
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    return False  # something in its group still holds it open
                if not chunk:
                    break
                lines[stream].feed(chunk)
        for stream in self._fds:
            lines[stream].end()
        return True

    def streams(self) -> tuple[trio.lowlevel.FdStream, trio.lowlevel.FdStream]:
        """The pipes as trio streams, to wait on (they then own the descriptors)."""
        if not self._streams:
            self._streams = [trio.lowlevel.FdStream(fd) for fd in self._fds.values()]
        return self._streams[0], self._streams[1]

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            for stream in self._streams:
                await stream.aclose()
        if not self._streams:
            for fd in self._fds.values():
                os.close(fd)
        self._fds = {}
        if self._pidfd >= 0:
            trio.lowlevel.notify_closing(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1


@functools.cache
def _pidfds() -> bool:
    """Whether this system gives process file descriptors (Linux 5.3 and later)."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


async def _start(argv: list[str], env: dict[str, str]) -> trio.Process | _Child:
    if not _pidfds():
        return await _start_on_a_thread(argv, env)
    return _spawn(argv, env)


@functools.cache
def _devnull() -> int:
    """One /dev/null for every shell's stdin (Popen would open and close one each time)."""
    return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


def _spawn(argv: list[str], env: dict[str, str]) -> _Child:
    """Start the shell here, on the trio thread: fork and exec take well under a ms."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    os.set_blocking(out_r, False)
    os.set_blocking(err_r, False)
    try:
        popen = subprocess.Popen(
            argv,
            stdin=_devnull(),
            stdout=out_w,
            stderr=err_w,
            env=env,
            start_new_session=True,
        )
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    try:
        return _Child(popen, out_r, err_r)
    except OSError:
        # Out of file descriptors, say: end what started rather than lose track of it.
        os.close(out_r)
        os.close(err_r)
        _signal_group(popen.pid, signal.SIGKILL)
        popen.wait()
        raise


async def _start_on_a_thread(argv: list[str], env: dict[str, str]) -> trio.Process:
    return await trio.lowlevel.open_process(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )


def _processes(proc: Path = Path("/proc")) -> Iterator[tuple[int, Path]]:
    """Live processes (zombies excluded) as (process group id, /proc entry); Linux only."""
    try:
        entries = os.listdir(proc)
    except OSError:
        return  # no /proc: nothing can be checked, so nothing is signalled
    for name in entries:
        if not name.isdigit():
            continue
        try:
            stat = (proc / name / "stat").read_bytes()
            # After the command name in parentheses: state, ppid, pgrp, ...
            state, _ppid, pgrp = stat[stat.rindex(b")") + 2 :].split()[:3]
        except (OSError, ValueError):
            continue  # gone meanwhile
        if state not in (b"Z", b"X"):
            yield int(pgrp), proc / name


def _environ(entry: Path) -> list[bytes]:
    try:
        return (entry / "environ").read_bytes().split(b"\0")
    except OSError:
        return []  # gone meanwhile, or not ours to read


def _holds(pgid: int, token: str | None = None, proc: Path = Path("/proc")) -> bool:
    """Whether process group ``pgid`` has a live member (started for ``token``, if given)."""
    wanted = f"{TOKEN}={token}".encode()
    return any(
        pgrp == pgid and (token is None or wanted in _environ(entry))
        for pgrp, entry in _processes(proc)
    )


def groups_left_by(runner: str, execution_id: int, proc: Path = Path("/proc")) -> dict[int, str]:
    """The process groups ``runner`` started for an execution's shells: pgid -> token."""
    mark = f"{RUNNER}={runner}".encode()
    prefix = f"{TOKEN}={execution_id}/".encode()
    found: dict[int, str] = {}
    for pgrp, entry in _processes(proc):
        env = _environ(entry)
        if mark in env:
            for item in env:
                if item.startswith(prefix):
                    found.setdefault(pgrp, item[len(TOKEN) + 1 :].decode(errors="replace"))
    return found


async def end_orphans(pgid: int, token: str, grace: float) -> bool:
    """End the process group a dead runner left for attempt ``token``; True if there was one."""
    if not _holds(pgid, token):
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 1.0)):
        _signal_group(pgid, sig)
        with trio.move_on_after(wait):
            while _holds(pgid):  # noqa: ASYNC110 - no event tells when a group is gone
                await trio.sleep(0.05)
    return True
