"""Wake-ups: a worker hears of queued work at once instead of finding it at its next poll.

For a SQLite file the store itself cannot tell anyone (there is no server), so the
processes on this machine that share the file share a folder too: each idle runner
listens on a Unix datagram socket of its own there, and whoever queues executions sends
one byte to each socket after its commit. Nobody takes the database's write lock for it,
a listener blocks in the kernel (no CPU while idle), and a lost wake-up costs only the
runner's slow safety poll. The folder is the user's alone (mode 0700), named by a hash of
the database's path under the temporary folder (a socket's path has at most 108 bytes).

PostgreSQL stores have none of this here (their runners poll); ``LISTEN``/``NOTIFY`` is
the server's own way, for a later change.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import uuid
from pathlib import Path

from engine.store.connection import Store

SUFFIX = ".wake"


def folder(store: Store) -> Path | None:
    """Where the listeners of ``store`` are (None: not a database file)."""
    path = store.path
    if path is None:
        return None
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"wfe-{os.getuid()}-{digest}"


def notify(store: Store) -> int:
    """Wake every runner listening on ``store``: how many were told. Never raises."""
    where = folder(store)
    if where is None:
        return 0
    told = 0
    try:
        entries = list(where.iterdir())
    except OSError:
        return 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as out:
        out.setblocking(False)
        for entry in entries:
            if entry.suffix != SUFFIX:
                continue
            try:
                out.sendto(b"!", str(entry))
                told += 1
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    entry.unlink()  # its runner is gone
            except OSError:
                pass  # its queue is full: it has been told already
    return told


class Listener:
    """A runner's socket in the store's folder; ``fileno`` for trio to wait on."""

    def __init__(self, store: Store) -> None:
        where = folder(store)
        if where is None:
            raise ValueError("wake-ups need a database file")
        where.mkdir(mode=0o700, exist_ok=True)
        if where.stat().st_uid != os.getuid():
            raise PermissionError(f"{where} belongs to another user")
        self.path = where / f"{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.setblocking(False)
        self.socket.bind(str(self.path))

    def drain(self) -> None:
        """Forget the wake-ups received so far (one claim answers them all)."""
        while True:
            try:
                self.socket.recv(64)
            except (BlockingIOError, OSError):
                return

    def close(self) -> None:
        self.socket.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
