"""Finding a step's processes wherever they went, and ending them.

A step's shell leads a process group of its own, but what it starts can leave that
group (``setsid``, a double fork, a daemon). Three nets catch them, each where the
system offers it:

- its **process group**, everywhere;
- its **cgroup** (v2), where this process may create cgroups below its own (Linux, as
  root or in a delegated subtree): every process it starts stays in it, whatever it does;
- the **environment tag** each shell carries (``WFE_STEP_RUN``, ``WFE_PROCESS``), found by
  scanning ``/proc`` (Linux): what keeps its environment is found however it detached.

Standard library only, and nothing from the engine: this file also runs on its own as
the runner's *watcher* (``python reaper.py PID START MARK [CGROUP]``), a small process in a
session of its own that waits for its runner to die (however it dies: kill -9 too) and
then ends, within about a second, every process the runner started.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

PROC = Path("/proc")
GRACE = 0.5  # seconds the watcher gives a dead runner's processes between TERM and KILL


def stat(entry: Path) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name, or None if it is gone."""
    try:
        stat = (entry / "stat").read_bytes()
        return stat[stat.rindex(b")") + 2 :].split()
    except (OSError, ValueError):
        return None


def processes(proc: Path = PROC) -> Iterator[tuple[int, int, Path]]:
    """Live processes (zombies excluded) as (pid, process group, /proc entry); Linux only."""
    try:
        names = os.listdir(proc)
    except OSError:
        return  # no /proc: nothing can be found this way
    for name in names:
        if not name.isdigit():
            continue
        fields = stat(proc / name)
        if fields is None or len(fields) < 3 or fields[0] in (b"Z", b"X"):
            continue
        yield int(name), int(fields[2]), proc / name


def environ(entry: Path) -> list[bytes]:
    try:
        return (entry / "environ").read_bytes().split(b"\0")
    except OSError:
        return []  # gone meanwhile, or not ours to read


def start_ticks(pid: int, proc: Path = PROC) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (None: gone or unknown)."""
    fields = stat(proc / str(pid))
    try:
        return int(fields[19]) if fields is not None else None
    except (IndexError, ValueError):
        return None


# -- cgroups --------------------------------------------------------------------------


def own_cgroup(proc: Path = PROC) -> Path | None:
    """This process's cgroup (v2) as a directory, if the unified hierarchy is mounted."""
    try:
        mounts = (proc / "self" / "mountinfo").read_text().splitlines()
        groups = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return None
    mount = next(
        (line.split()[4] for line in mounts if " - cgroup2 " in line and len(line.split()) > 4),
        None,
    )
    path = next((line[3:] for line in groups if line.startswith("0::")), None)
    if mount is None or path is None:
        return None
    where = Path(mount) / path.lstrip("/")
    return where if where.is_dir() else None


def members(cgroup: Path) -> set[int]:
    """The processes in a cgroup and all below it."""
    found: set[int] = set()
    for folder, _dirs, _files in os.walk(cgroup):
        with contextlib.suppress(OSError, ValueError):
            found.update(int(p) for p in Path(folder, "cgroup.procs").read_text().split())
    return found


def populated(cgroup: Path) -> bool:
    """Whether anything runs in a cgroup or below it (one read: cheap)."""
    try:
        return b"populated 1" in (cgroup / "cgroup.events").read_bytes()
    except OSError:
        return False  # removed meanwhile


def kill_cgroup(cgroup: Path) -> None:
    """SIGKILL everything in a cgroup at once (Linux 5.14+), else each process in it."""
    try:
        (cgroup / "cgroup.kill").write_text("1")
        return
    except OSError:
        pass
    for _ in range(10):  # one by one races with forks: a few rounds
        pids = members(cgroup)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def remove_cgroup(cgroup: Path) -> bool:
    """Remove an empty cgroup and those below it; False if something still runs in it."""
    try:
        cgroup.rmdir()  # the common case: nothing below it
        return True
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:
        folders = [Path(d) for d, _dirs, _files in os.walk(cgroup, topdown=False)]
    except OSError:
        return True
    done = True
    for folder in folders:
        try:
            folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            done = False
    return done


# -- ending what a step (or a runner) started ---------------------------------------------


class Reach:
    """The processes of a step, or of a runner: by group, cgroup and environment tag."""

    def __init__(
        self,
        groups: set[int] | None = None,
        cgroup: Path | None = None,
        marks: tuple[bytes, ...] = (),
        proc: Path = PROC,
    ) -> None:
        self.groups = groups or set()
        self.cgroup = cgroup
        self.marks = marks  # environment entries (b"NAME=value") a process has all of
        self.proc = proc

    def find(self) -> tuple[set[int], set[int]]:
        """Its live processes, and the process groups to signal as a whole."""
        pids = members(self.cgroup) if self.cgroup is not None else set()
        groups = set(self.groups)
        if self.marks or groups:
            for pid, pgrp, entry in processes(self.proc):
                if pgrp in groups:
                    pids.add(pid)
                elif self.marks and _tagged(environ(entry), self.marks):
                    pids.add(pid)
                    if pgrp == pid:
                        groups.add(pgrp)  # a group it leads: what it started, tagged or not
        pids.discard(os.getpid())
        return pids, groups

    def alive(self) -> bool:
        pids, _groups = self.find()
        return bool(pids)

    def signal(self, sig: int) -> bool:
        """Send ``sig`` to all of it; False if nothing of it was left."""
        pids, groups = self.find()
        if sig == signal.SIGKILL and self.cgroup is not None:
            kill_cgroup(self.cgroup)
        for pgid in groups:
            with contextlib.suppress(OSError):
                os.killpg(pgid, sig)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        return bool(pids)


def _tagged(env: list[bytes], marks: tuple[bytes, ...]) -> bool:
    return all(mark in env for mark in marks)


def end(reach: Reach, grace: float) -> None:
    """SIGTERM, ``grace`` seconds to go, then SIGKILL (blocking; for the watcher)."""
    if reach.signal(signal.SIGTERM):
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and reach.alive():
            time.sleep(0.02)
        if reach.signal(signal.SIGKILL):
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and reach.alive():
                time.sleep(0.02)
    if reach.cgroup is not None:
        for _ in range(100):
            if remove_cgroup(reach.cgroup):
                break
            time.sleep(0.02)


# -- the watcher ------------------------------------------------------------------------


def wait_for_death(pid: int, start: int) -> None:
    """Return once process ``pid`` (the one that started at ``start`` ticks) has ended."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = -1
    if start_ticks(pid) != start:
        return  # already gone (and its pid maybe reused)
    if pidfd >= 0:
        poll = select.poll()
        poll.register(pidfd, select.POLLIN)
        while not poll.poll():
            pass
        return
    while start_ticks(pid) == start:
        time.sleep(0.2)


def watch(pid: int, start: int, mark: bytes, cgroup: Path | None) -> None:
    """Wait for the runner to end, then end whatever it started that is still running."""
    wait_for_death(pid, start)
    end(Reach(cgroup=cgroup, marks=(mark,)), GRACE)


def main(argv: list[str]) -> int:
    try:
        pid, start, mark = int(argv[0]), int(argv[1]), argv[2].encode()
        cgroup = Path(argv[3]) if len(argv) > 3 and argv[3] else None
    except (IndexError, ValueError):
        print("usage: reaper.py PID START NAME=VALUE [CGROUP]", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # it ends when its runner has ended
    watch(pid, start, mark, cgroup)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
