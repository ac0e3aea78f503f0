"""A step's processes: started in their own process group, tracked, ended with it.

A shell starts in a new session (its own process group), on the trio thread where the
system gives process file descriptors (Linux 5.3+), else on a worker thread. Right after
it starts it is moved into a cgroup of its own where the system lets this process make
one (see :mod:`.reaper`). What the shell starts is then ended with it:

- when the command ends, what it left in its group, or in its cgroup, gets SIGTERM,
  then SIGKILL after the grace period;
- when its step times out or is cancelled, the same, and also every process that carries
  its environment tag (``WFE_STEP_RUN`` and ``WFE_PROCESS``), found through ``/proc``;
- when its runner dies, however it dies, the runner's *watcher* (a small process started
  with the first shell, :func:`.reaper.watch`) ends within about a second every process
  the runner started: its cgroups, and what carries its ``WFE_PROCESS`` tag.

The group's id is recorded on the step run too: whoever takes the execution over on the
same host ends the group if it is still there (in case the watcher was killed as well),
checking first through ``/proc`` that the group still holds a process of that attempt,
so a reused id is never signalled; a group the runner had no time to record is found by
the ``WFE_RUNNER`` and ``WFE_STEP_RUN`` variables.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import trio

from engine.steps import reaper

logger = logging.getLogger(__name__)

TOKEN = "WFE_STEP_RUN"
RUNNER = "WFE_RUNNER"
PROCESS = "WFE_PROCESS"
HOST = socket.gethostname()


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


# -- where this process keeps its shells ----------------------------------------------


@dataclass
class _Home:
    """This process's tag, the cgroup its shells go into (if any), and its watcher."""

    pid: int
    tag: str
    cgroups: Path | None
    watcher: int | None = None
    made: int = 0  # cgroups made so far, to name the next one
    free: list[Path] = field(default_factory=list)  # empty ones, to use again


_home: _Home | None = None


def _here() -> _Home:
    """This process's home for shells, made with its first shell (again after a fork)."""
    global _home
    if _home is None or _home.pid != os.getpid():
        pid = os.getpid()
        _home = _Home(pid, f"{pid}-{uuid.uuid4().hex[:8]}", _cgroup_home(pid))
    if _home.watcher is None or _watcher_gone(_home.watcher):
        _home.watcher = _start_watcher(_home)
    return _home


def _cgroup_home(pid: int) -> Path | None:
    """``wfe-PID`` below this process's cgroup, where its shells' cgroups go, if allowed."""
    own = reaper.own_cgroup()
    if own is None:
        return None
    with_stale = [p for p in _listdir(own) if p.startswith("wfe-") and p[4:].isdigit()]
    for name in with_stale:  # left by a process whose watcher died with it
        other = int(name[4:])
        if other != pid and reaper.start_ticks(other) is None:
            reaper.remove_cgroup(own / name)
    home = own / f"wfe-{pid}"
    try:
        home.mkdir(exist_ok=True)
    except OSError as exc:
        logger.debug("no cgroups for shells (%s): process groups and /proc only", exc)
        return None
    return home


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _watcher_gone(pid: int) -> bool:
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done != 0


def _start_watcher(home: _Home) -> int | None:
    """Start the process that ends this one's shells when this one dies (kill -9 too)."""
    start = reaper.start_ticks(home.pid)
    if start is None or not sys.executable:
        return None  # no /proc: take-overs end what is left, later
    argv = [sys.executable, "-I", "-S", reaper.__file__, str(home.pid), str(start)]
    argv += [f"{PROCESS}={home.tag}", str(home.cgroups or "")]
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN, RUNNER, PROCESS)}
    null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    try:
        return os.posix_spawn(sys.executable, argv, env, file_actions=null, setsid=True)
    except (OSError, NotImplementedError, TypeError) as exc:
        logger.warning("cannot start the watcher of this process's shells: %s", exc)
        return None


class Tracked:
    """A started shell and everything it starts: its group, its cgroup, its tag."""

    def __init__(self, pgid: int, token: str, home: _Home) -> None:
        self.pgid = pgid
        self.token = token
        self.tag = home.tag
        self._home = home
        self.cgroup: Path | None = None
        if home.cgroups is not None:
            if home.free:
                cgroup = home.free.pop()
            else:
                home.made += 1
                cgroup = home.cgroups / str(home.made)
            try:
                cgroup.mkdir(exist_ok=True)
                (cgroup / "cgroup.procs").write_text(str(pgid))
                self.cgroup = cgroup
            except OSError as exc:  # not allowed after all: groups and tags only, from now on
                logger.debug("cannot move shells into cgroups (%s)", exc)
                reaper.remove_cgroup(cgroup)
                home.cgroups = None

    def _reach(self, *, tagged: bool) -> reaper.Reach:
        marks = (f"{TOKEN}={self.token}".encode(), f"{PROCESS}={self.tag}".encode())
        return reaper.Reach({self.pgid}, self.cgroup, marks if tagged else ())

    async def end_leftovers(self, grace: float) -> None:
        """The command is done; whatever it left running in its group (or its cgroup)
        must go too, or the pipes it holds would keep the step open."""
        if signal_group(self.pgid, signal.SIGTERM):
            with trio.move_on_after(grace):
                await _wait_group_gone(self.pgid)
            signal_group(self.pgid, signal.SIGKILL)
        if self.cgroup is not None and reaper.populated(self.cgroup):
            await self._end(self._reach(tagged=False), grace)
        self.release()

    async def terminate(self, proc: trio.Process | Child, grace: float) -> None:
        """Timed out or cancelled: end the shell and all it started, wherever it went."""
        reach = self._reach(tagged=True)
        reach.signal(signal.SIGTERM)
        with trio.move_on_after(grace):
            await proc.wait()
            while reach.alive():  # noqa: ASYNC110 - no event tells when they are all gone
                await trio.sleep(0.05)
        await self._end(reach, 0)
        await proc.wait()
        self.release()

    async def _end(self, reach: reaper.Reach, grace: float) -> None:
        if grace and reach.signal(signal.SIGTERM):
            with trio.move_on_after(grace):
                while reach.alive():  # noqa: ASYNC110
                    await trio.sleep(0.05)
        if reach.signal(signal.SIGKILL):
            with trio.move_on_after(2.0):  # SIGKILL takes effect at once; exits take a moment
                while reach.alive():  # noqa: ASYNC110
                    await trio.sleep(0.01)

    def release(self) -> None:
        """Done with its cgroup: empty, it serves the next shell (the watcher removes
        them all when this process ends)."""
        if self.cgroup is not None and not reaper.populated(self.cgroup):
            self._home.free.append(self.cgroup)
            self.cgroup = None


def close(proc: trio.Process | Child) -> None:
    if isinstance(proc, Child):
        proc.close()


class Child:
    """A shell started on the trio thread, waited for through a pidfd (Linux).

    ``trio.lowlevel.open_process`` starts each process on a worker thread, in case
    ``fork``/``exec`` blocks; for a short command that hop is a fifth of the step (the
    way asyncio does it: the spawn itself takes well under a millisecond).
    """

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self._pidfd = os.pidfd_open(popen.pid)

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def wait(self) -> int:
        # Its pipes end as it exits: by then it is often gone, with no need to wait.
        if self._popen.returncode is None and self._popen.poll() is None:
            await trio.lowlevel.wait_readable(self._pidfd)
            self._popen.wait()
        return self._popen.returncode

    def close(self) -> None:
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


async def launch(
    argv: Callable[[str], list[str]],
    script: str,
    env: dict[str, str],
    token: str,
    output: tuple[int, int],
) -> tuple[trio.Process | Child, Tracked]:
    """Start ``script`` in a shell (``argv`` makes its command line), and follow it.

    ``output``: the descriptors its stdout and stderr go to (the caller's to close).

    Where there are cgroups the shell waits, before its first command, until it has
    been moved into its own: nothing it starts can be forked outside it. (The wait is
    a ``read`` from a pipe on the script's first line, so its line numbers stay.)
    """
    home = _here()
    env[PROCESS] = home.tag
    gate: tuple[int, int] | None = os.pipe() if home.cgroups is not None else None
    if gate is not None:
        script = f"read -r _ <&{gate[0]}; exec {gate[0]}<&-; {script}"
    try:
        keep = (gate[0],) if gate is not None else ()
        if _pidfds():
            proc: trio.Process | Child = _spawn(argv(script), env, keep, output)
        else:
            proc = await _start_on_a_thread(argv(script), env, keep, output)
    except BaseException:
        if gate is not None:
            os.close(gate[1])
        raise
    finally:
        if gate is not None:
            os.close(gate[0])
    tracked = Tracked(proc.pid, token, home)
    if gate is not None:
        try:
            os.write(gate[1], b"\n")  # in its cgroup now, or never will be: go
        finally:
            os.close(gate[1])
    return proc, tracked


@functools.cache
def _devnull() -> int:
    """One /dev/null for every shell's stdin (Popen would open and close one each time)."""
    return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


def _spawn(
    argv: list[str], env: dict[str, str], keep: tuple[int, ...], output: tuple[int, int]
) -> Child:
    """Start the shell here, on the trio thread: fork and exec take well under a ms."""
    popen = subprocess.Popen(
        argv,
        stdin=_devnull(),
        stdout=output[0],
        stderr=output[1],
        env=env,
        start_new_session=True,
        pass_fds=keep,
    )
    try:
        return Child(popen)
    except OSError:
        # Out of file descriptors, say: end what started rather than lose track of it.
        signal_group(popen.pid, signal.SIGKILL)
        popen.wait()
        raise


async def _start_on_a_thread(
    argv: list[str], env: dict[str, str], keep: tuple[int, ...], output: tuple[int, int]
) -> trio.Process:
    return await trio.lowlevel.open_process(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=output[0],
        stderr=output[1],
        env=env,
        start_new_session=True,
        pass_fds=keep,
    )


def gone(pid: int, since: datetime, proc: Path = reaper.PROC) -> bool:
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
    fields = reaper.stat(proc / str(pid))
    if fields is None:
        return False  # cannot tell: the lease will say
    try:
        state, ticks = fields[0], int(fields[19])
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


def _holds(pgid: int, token: str | None = None, proc: Path = reaper.PROC) -> bool:
    """Whether process group ``pgid`` has a live member (started for ``token``, if given)."""
    wanted = f"{TOKEN}={token}".encode()
    return any(
        pgrp == pgid and (token is None or wanted in reaper.environ(entry))
        for _pid, pgrp, entry in reaper.processes(proc)
    )


def groups_left_by(runner: str, execution_id: int, proc: Path = reaper.PROC) -> dict[int, str]:
    """The process groups ``runner`` started for an execution's shells: pgid -> token."""
    mark = f"{RUNNER}={runner}".encode()
    prefix = f"{TOKEN}={execution_id}/".encode()
    found: dict[int, str] = {}
    for _pid, pgrp, entry in reaper.processes(proc):
        env = reaper.environ(entry)
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
