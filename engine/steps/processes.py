"""A step's processes: started in their own process group, ended with everything in it.

A shell starts in a new session (its own process group), on the trio thread where the
system gives process file descriptors (Linux 5.3+), else on a worker thread. When its
step is cancelled or times out the whole group gets SIGTERM, then SIGKILL after a grace
period; when the command ends, anything it left behind in its group gets the same.

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
import signal
import socket
import subprocess
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol

import trio

TOKEN = "WFE_STEP_RUN"
RUNNER = "WFE_RUNNER"
HOST = socket.gethostname()


class Sink(Protocol):
    """Where a stream's bytes go: fed as they come, ended once."""

    def feed(self, chunk: bytes | bytearray) -> None: ...
    def end(self) -> None: ...


async def end_leftovers(pgid: int, grace: float) -> None:
    """The command is done; whatever it left running in its group must go too (or the
    pipes it holds would keep the step open)."""
    if signal_group(pgid, signal.SIGTERM):
        with trio.move_on_after(grace):
            await _wait_group_gone(pgid)
        signal_group(pgid, signal.SIGKILL)


def signal_group(pgid: int, sig: int) -> bool:
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
    while signal_group(pgid, 0):  # noqa: ASYNC110
        await trio.sleep(0.05)


async def terminate(proc: trio.Process | Child, pgid: int, grace: float) -> None:
    signal_group(pgid, signal.SIGTERM)
    with trio.move_on_after(grace):
        await proc.wait()
        await _wait_group_gone(pgid)
    signal_group(pgid, signal.SIGKILL)
    await proc.wait()


def streams(proc: trio.Process | Child) -> tuple[trio.abc.ReceiveStream, trio.abc.ReceiveStream]:
    """A started shell's stdout and stderr, to read as they come."""
    if isinstance(proc, Child):
        return proc.streams()
    assert proc.stdout is not None and proc.stderr is not None
    return proc.stdout, proc.stderr


async def close(proc: trio.Process | Child) -> None:
    if isinstance(proc, Child):
        await proc.aclose()
        return
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()


class Child:
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

    def drain(self, lines: Mapping[str, Sink]) -> bool:
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


async def start(argv: list[str], env: dict[str, str]) -> trio.Process | Child:
    if not _pidfds():
        return await _start_on_a_thread(argv, env)
    return _spawn(argv, env)


@functools.cache
def _devnull() -> int:
    """One /dev/null for every shell's stdin (Popen would open and close one each time)."""
    return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


def _spawn(argv: list[str], env: dict[str, str]) -> Child:
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
        return Child(popen, out_r, err_r)
    except OSError:
        # Out of file descriptors, say: end what started rather than lose track of it.
        os.close(out_r)
        os.close(err_r)
        signal_group(popen.pid, signal.SIGKILL)
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


def gone(pid: int, since: datetime, proc: Path = Path("/proc")) -> bool:
    """Whether the process that was ``pid`` at ``since`` has ended (on this host).

    A pid can be reused: a process of that number started after ``since`` is another
    one. Where there is no /proc, only whether the pid exists can be told.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # someone else's process: it exists
    try:
        stat = (proc / str(pid) / "stat").read_bytes()
        fields = stat[stat.rindex(b")") + 2 :].split()
        state, ticks = fields[0], int(fields[19])  # state, then starttime (field 22)
        boot = next(
            int(line.split()[1])
            for line in (proc / "stat").read_bytes().splitlines()
            if line.startswith(b"btime ")
        )
    except (OSError, ValueError, IndexError, StopIteration):
        return False  # cannot tell: the lease will say
    if state in (b"Z", b"X"):
        return True  # it ended; its parent has not collected it yet
    started = boot + ticks / os.sysconf("SC_CLK_TCK")
    return started > since.timestamp() + 2.0  # (a runner records itself after it starts)


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
        signal_group(pgid, sig)
        with trio.move_on_after(wait):
            while _holds(pgid):  # noqa: ASYNC110 - no event tells when a group is gone
                await trio.sleep(0.05)
    return True
