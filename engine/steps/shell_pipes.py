"""A shell's stdout and stderr: two pipes read from one place, in the order written.

Two pipes hold no common clock: once both have bytes waiting, nothing tells which were
written first. Three things keep the order anyway, where Linux offers them:

- the pipes are in *packet mode* (``O_DIRECT``) and hold one page each: every ``write``
  is a packet of its own, and a writer that has one unread packet in a pipe waits until
  it is read. At most one write a stream is ever unread;
- both read ends are watched, edge-triggered, by an epoll of their own, which reports
  them in the order they became readable (the kernel keeps its ready list in that order,
  and edge-triggering keeps a pipe at the place of its first unread write);
- each report is answered with one read: the pipe is empty again, and the writer's next
  write comes back as a report of its own, after whatever was written before it.

So lines are handed on in the order of the writes that carried them, even while the
writer is far quicker than the reader. The cost is a reader's turn for each write (some
50 µs), felt only by a writer of many short writes, and only until the log is full or
one stream is left: then the pipes grow to a megabyte and are read to their end at each
turn (floods stay linear). Elsewhere (or where a pipe will not shrink) both pipes are
read as they come, which keeps the order only as far as the reader keeps up.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import select
from collections.abc import Callable
from typing import Protocol

import trio

PAGE = mmap.PAGESIZE  # a pipe's smallest size (one packet's room)
CHUNK = 65536  # bytes read at once
BULK = 1 << 20  # a pipe's size once order no longer matters (the default most allow)
_F_SETPIPE_SZ: int | None = getattr(fcntl, "F_SETPIPE_SZ", None)
_EPOLL = hasattr(select, "epoll") and _F_SETPIPE_SZ is not None and hasattr(os, "O_DIRECT")


class Sink(Protocol):
    """Where a stream's bytes go: fed as they come, ended once."""

    def feed(self, chunk: bytes | bytearray) -> None: ...
    def end(self) -> None: ...


class Pipes:
    """The pipes a shell's stdout and stderr go to, and their reading.

    :attr:`writers` go to the shell (and are closed here once it has them, with
    :meth:`started`); :meth:`read` reads both to their end, and may be cancelled and
    called again; :meth:`close` lets go of everything.
    """

    def __init__(self) -> None:
        self._epoll: select.epoll | None = None
        pipes: list[tuple[int, int, bool]] = []
        try:
            pipes.append(_pipe())
            pipes.append(_pipe())
            if _EPOLL:
                self._epoll = select.epoll(2)
                for r, _w, _small in pipes:
                    self._epoll.register(r, select.EPOLLIN | select.EPOLLET)
        except BaseException:  # out of descriptors, say
            for r, w, _small in pipes:
                os.close(r)
                os.close(w)
            if self._epoll is not None:
                self._epoll.close()
            raise
        # One packet a write and one page a pipe: one read answers a report.
        self._ordered = self._epoll is not None and all(small for _r, _w, small in pipes)
        self._readers = [r for r, _w, _small in pipes]
        self.writers: tuple[int, int] | None = (pipes[0][1], pipes[1][1])
        self._open = list(self._readers)

    @property
    def done(self) -> bool:
        """Both pipes read to their end."""
        return not self._open

    def started(self) -> None:
        """The shell has its ends: drop ours, or the pipes would never end."""
        if self.writers is not None:
            for fd in self.writers:
                os.close(fd)
            self.writers = None

    async def read(self, out: Sink, err: Sink, *, full: Callable[[], bool]) -> None:
        """Read both pipes to their end, handing on what comes in the order written.

        ``full``: whether the log takes no more lines (their order no longer matters:
        the pipes are read in bulk from then on).
        """
        sinks = {self._readers[0]: out, self._readers[1]: err}
        if self._epoll is None:
            async with trio.open_nursery() as nursery:
                for fd in list(self._open):
                    nursery.start_soon(self._follow, fd, sinks[fd])
            return
        epoll = self._epoll
        while self._open:
            await trio.lowlevel.wait_readable(epoll.fileno())
            for fd, flags in epoll.poll(0):
                # After a hang-up nothing more is written: read what is left, then the end.
                whole = not self._ordered or bool(flags & select.EPOLLHUP)
                if fd in self._open and self._take(fd, sinks[fd], all_of_it=whole):
                    epoll.unregister(fd)  # its hang-up may still be on its way
            if self._ordered and (full() or len(self._open) < 2):
                self._ordered = False  # one stream left, or no line kept: no order to keep
                for fd in self._open:
                    with contextlib.suppress(OSError):  # over the user's pipe quota: as is
                        assert _F_SETPIPE_SZ is not None
                        fcntl.fcntl(fd, _F_SETPIPE_SZ, BULK)

    def _take(self, fd: int, sink: Sink, *, all_of_it: bool) -> bool:
        """Read what ``fd`` holds (one read, or up to its end); True once it has ended."""
        while True:
            try:
                chunk = os.read(fd, CHUNK)
            except BlockingIOError:
                return False
            if not chunk:
                self._open.remove(fd)
                sink.end()
                return True
            sink.feed(chunk)
            if not all_of_it:
                return False

    async def _follow(self, fd: int, sink: Sink) -> None:
        while fd in self._open and not self._take(fd, sink, all_of_it=True):
            await trio.lowlevel.wait_readable(fd)

    def close(self) -> None:
        self.started()
        if self._epoll is not None:
            trio.lowlevel.notify_closing(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None
            for fd in self._readers:
                os.close(fd)
        else:
            for fd in self._readers:
                trio.lowlevel.notify_closing(fd)
                os.close(fd)
        self._readers = []
        self._open = []


def _pipe() -> tuple[int, int, bool]:
    """A pipe (its read end non-blocking), and whether it is a one-page packet pipe."""
    if not _EPOLL:
        r, w = os.pipe()
        os.set_blocking(r, False)
        return r, w, False
    r, w = os.pipe2(os.O_CLOEXEC | os.O_DIRECT)
    os.set_blocking(r, False)
    try:
        assert _F_SETPIPE_SZ is not None
        small = fcntl.fcntl(r, _F_SETPIPE_SZ, PAGE) == PAGE
    except OSError:
        small = False
    return r, w, small
