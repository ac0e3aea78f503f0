"""Wake-ups: a worker hears of queued work at once instead of finding it at its next poll.

For a SQLite file the store itself cannot tell anyone (there is no server), so the
processes on this machine that share the file share a folder too: each idle runner
listens on a Unix datagram socket of its own there, and whoever queues executions sends
one byte to each socket after its commit. Nobody takes the database's write lock for it,
a listener blocks in the kernel (no CPU while idle), and a lost wake-up costs only the
runner's slow safety poll. The folder is the user's alone (mode 0700), named by a hash of
the database's path under the temporary folder (a socket's path has at most 108 bytes).

On PostgreSQL the server does it: a runner listens (``LISTEN``) on a connection of its own, and
whoever queues sends ``NOTIFY`` in the transaction that queues (the server delivers it at
the commit); runners on every machine hear it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

    from engine.store.connection import Store
    from engine.store.dialects import WakeListener

SUFFIX = ".wake"


def folder(store: Store) -> Path | None:
    """Where the listeners of a SQLite file store are (None: not a database file)."""
    path = store.path
    return None if path is None else folder_of(path)


def folder_of(path: Path) -> Path:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"wfe-{os.getuid()}-{digest}"


CHANNEL = "wfe_queued"


def notify(store: Store) -> int:
    """Wake every runner listening on ``store``: how many were told (on PostgreSQL: 1, the
    server tells them). Never raises: a lost wake-up costs a runner its safety poll."""
    return store.dialect.wake_runners(store.engine)


def notify_in(store: Store, conn: sa.Connection) -> bool:
    """Wake the runners at the commit of ``conn``'s transaction, where the store can (a
    NOTIFY in it: no round trip of its own); False: call :func:`notify` after it."""
    return store.dialect.wake_in(conn)


def listener(store: Store) -> WakeListener | None:
    """What a runner waits on for wake-ups (None: the store has none; it polls)."""
    return store.dialect.wake_listener()


def notify_folder(where: Path) -> int:
    """One byte to each socket in ``where``; the sockets of runners gone are removed."""
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


class PgListener:
    """A connection of its own that LISTENs; readable when a NOTIFY came."""

    def __init__(self, url: sa.URL) -> None:
        import psycopg

        self.conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        self.conn.execute(f"LISTEN {CHANNEL}")

    def fileno(self) -> int:
        return self.conn.fileno()

    def drain(self) -> None:
        pg = self.conn.pgconn
        pg.consume_input()
        while pg.notifies() is not None:
            pass

    def close(self) -> None:
        self.conn.close()


class Listener:
    """A runner's socket in the store's folder; ``fileno`` for trio to wait on."""

    def __init__(self, where: Path) -> None:
        where.mkdir(mode=0o700, exist_ok=True)
        if where.stat().st_uid != os.getuid():
            raise PermissionError(f"{where} belongs to another user")
        self.path = where / f"{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.setblocking(False)
        self.socket.bind(str(self.path))

    def fileno(self) -> int:
        return self.socket.fileno()

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
