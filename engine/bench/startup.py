"""``wfe bench --cli``: how long whole ``wfe`` processes take, beside a bare interpreter.

Every command runs as a user runs it (the ``wfe`` script next to this interpreter) on a
temporary store, several times; the report gives the median, and ``python -c pass`` in
the same run for the floor. The console is started in a pseudo-terminal and timed until
its first frame is on the terminal, and until its data is, on an empty store and on one
holding 10,000 executions.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from engine import definition, store
from engine.bench.results import Result

RUNS = 7
WORKFLOW = (
    "name: hello\nparams: {who: world}\nsteps:\n  - {id: a, log: 'hello ${{ params.who }}'}\n"
)
TITLE = b"WorkflowEngine"  # the dashboard's first line: the first frame is up
DATA = b"hello"  # the workflow's name in the dashboard's table: the data is up
CONSOLE_TIMEOUT = 30.0


def wfe_command() -> list[str]:
    """The ``wfe`` script installed beside this interpreter, else ``python -m engine.cli``."""
    script = Path(sys.executable).with_name("wfe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "engine.cli"]


def _time(argv: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.decode(errors='replace')}")
    return took


def _first_frame(
    argv: Sequence[str], env: dict[str, str], size: tuple[int, int]
) -> tuple[float, float]:
    """Milliseconds until the console's first frame, and until its data, in a pty."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    # The terminal's size is set before the console starts, as a terminal emulator does.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    os.close(slave)
    seen = b""
    frame = data = None
    try:
        while data is None:
            left = CONSOLE_TIMEOUT - (time.perf_counter() - start)
            if left <= 0:
                raise RuntimeError(f"the console showed nothing in {CONSOLE_TIMEOUT:g}s")
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            now = (time.perf_counter() - start) * 1000
            if frame is None and TITLE in seen:
                frame = now
            if frame is not None and DATA in seen:
                data = now
        os.write(master, b"q")
        deadline = time.perf_counter() + 10
        while proc.poll() is None and time.perf_counter() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        os.close(master)
    if frame is None or data is None:
        tail = seen[-300:].decode(errors="replace")
        raise RuntimeError(f"the console exited before its first frame: {tail!r}")
    return frame, data


def run(
    *,
    runs: int = RUNS,
    command: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda s: None,
) -> list[Result]:
    """Time each command ``runs`` times (the console too, unless there is no pty)."""
    wfe = list(command or wfe_command())
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="wfe-startup-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'startup.db'}"
        big = f"sqlite:///{folder / 'big.db'}"
        (folder / "hello.yaml").write_text(WORKFLOW)
        env = {
            **os.environ,
            "WFE_DATABASE_URL": url,
            "XDG_CONFIG_HOME": str(folder / "config"),
            "XDG_STATE_HOME": str(folder / "state"),
            "NO_COLOR": "1",
        }
        # As a user's shell runs it: bytecode cached after the first run.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        db = store.open_store(url)
        store.save_workflows(db, [(definition.parse(WORKFLOW, "hello.yaml"), None)])
        row = store.get_workflow(db, "hello")
        queued = store.create_executions(db, row, [{}] * runs)
        db.close()
        cancels = iter(str(e.id) for e in queued)
        commands: list[tuple[str, Callable[[], list[str]], str]] = [
            ("python -c pass", lambda: [sys.executable, "-c", "pass"], "the floor"),
            ("wfe --help", lambda: [*wfe, "--help"], "≤ 200 ms"),
            (
                "wfe validate FILE",
                lambda: [*wfe, "validate", str(folder / "hello.yaml")],
                "≤ 200 ms",
            ),
            ("wfe stats", lambda: [*wfe, "stats"], "≤ 600 ms"),
            ("wfe executions list", lambda: [*wfe, "executions", "list"], "≤ 600 ms"),
            ("wfe run NAME --detach", lambda: [*wfe, "run", "hello", "--detach"], "≤ 600 ms"),
            ("wfe cancel ID", lambda: [*wfe, "cancel", next(cancels)], "≤ 600 ms"),
        ]
        for _name, argv, _target in commands:  # warm-up: bytecode and the page cache
            if _name != "wfe cancel ID":
                _time(argv(), env)
        # Round by round, each command once a round: the machine's noise falls on all.
        samples: dict[str, list[float]] = {name: [] for name, _argv, _target in commands}
        for round_ in range(runs):
            progress(f"commands, round {round_ + 1} of {runs}")
            for name, argv, _target in commands:
                samples[name].append(_time(argv(), env))
        floor = statistics.median(samples["python -c pass"])
        for name, _argv, target in commands:
            result = Result(
                f"cli: {name}", "ms", samples[name], None, target, higher_is_better=False
            )
            if name != "python -c pass":
                result.extra = {"over_python_ms": result.median - floor}
            results.append(result)
        if shutil.which("true") is None or not hasattr(os, "openpty"):
            return results
        db = store.open_store(big)
        store.save_workflows(db, [(definition.parse(WORKFLOW, "hello.yaml"), None)])
        row = store.get_workflow(db, "hello")
        for _ in range(10):
            store.create_executions(db, row, [{}] * 1000)
        db.close()
        for label, where in (("empty store", url), ("10,000 executions", big)):
            progress(f"console, {label}")
            console_env = {**env, "WFE_DATABASE_URL": where, "TERM": "xterm-256color"}
            console_env.pop("NO_COLOR")
            _first_frame(wfe, console_env, (80, 24))
            timings = [_first_frame(wfe, console_env, (80, 24)) for _ in range(runs)]
            frame = Result(
                f"console first frame, {label}",
                "ms",
                [t[0] for t in timings],
                None,
                "≤ 1,000 ms",
                higher_is_better=False,
            )
            frame.extra = {"data_shown_ms": statistics.median(t[1] for t in timings)}
            results.append(frame)
    return results
