"""``wfe`` (or ``wfe console``): open the console on a store; its log goes to a file.

The terminal belongs to the console while it runs, so what the engine and the console
log goes to ``console.log`` in the user state folder (``~/.local/state/workflow-engine``
on Linux): an unexpected error there has its traceback, while the screen shows one line.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path
from typing import TYPE_CHECKING

from engine import settings

if TYPE_CHECKING:
    from console.app import WorkflowConsole

logger = logging.getLogger(__name__)

LOG_FILE = "console.log"
LOG_BYTES = 1_000_000  # then it rolls over, keeping three old files


def log_to_file(folder: Path | None = None) -> Path | None:
    """Send the engine's and the console's log to the console's log file; its path."""
    folder = folder or settings.state_dir()
    path = folder / LOG_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_BYTES, backupCount=3, encoding="utf-8"
        )
        os.chmod(path, 0o600)
    except OSError:
        handler = None
    for name in ("engine", "console"):
        log = logging.getLogger(name)
        log.setLevel(logging.INFO)
        # Never the terminal: with no handler, Python would print warnings over the UI.
        log.propagate = False
        log.addHandler(handler if handler is not None else logging.NullHandler())
    if handler is None:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return path


def run(url: str, *, read_only: bool = False, context: str = "default") -> int:
    """Open the console on the store at ``url``; the process's exit status.

    The store opens after the first frame. If it cannot be opened, the console says why
    on its screen and, once the terminal is back, on stderr too (exit status 1).
    ``read_only``: every action that writes is hidden and refused, and no work runs here.
    ``context``: the name of the store (shown in every view's title); ``:ctx NAME`` in
    the console closes this store and opens that one in its place, in the same process.
    """
    from console.app import WorkflowConsole
    from engine import contexts

    log = log_to_file()
    forced_read_only = read_only
    while True:
        app = WorkflowConsole(url=url, read_only=read_only, context=context)
        try:
            app.run()
        finally:
            app.close_store()
        if app.switch_to is None or app.error or app.return_code:
            return exit_status(app, log)
        chosen = contexts.pick(app.switch_to)
        url, context = chosen.url, chosen.name
        read_only = forced_read_only or chosen.read_only


def exit_status(app: WorkflowConsole, log: Path | None) -> int:
    """What the console's process ends with, said on stderr when it is not 0.

    Textual ends an app on an unhandled exception with return code 1 (and prints its
    traceback); the traceback goes to the log too, and one line says where it is.
    """
    import sys

    if app.error:
        print(f"error: {app.error}", file=sys.stderr)
        return 1
    if app.return_code:
        # Textual keeps the exception that ended the app only here.
        logger.error("the console stopped on an unexpected error", exc_info=app._exception)
        where = f"; the traceback is in {log}" if log is not None else ""
        print(f"error: the console stopped on an unexpected error{where}", file=sys.stderr)
        return 1
    return 0
