"""How fast the console shows a key's effect while a 10,000-step workflow runs.

    python -m console.latency [--steps 10000] [--presses 40]
    python -m console.latency --graph [--steps 1000]   # keys in the live graph view

End to end, as a user sees it: the real ``wfe`` console runs in tmux (which must be
installed) on a temporary store; a workflow of ``--steps`` steps (log lines and 1 ms
sleeps, so it keeps the executor and the log busy for a while) is started from the
console; then keys switch between views and each is timed from ``send-keys`` until the
terminal shows the new view (``capture-pane``, polled every millisecond or so).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from engine import definition, store

SESSION = "wfe-latency"
# How long a lone Esc waits for the rest of an escape sequence: the console's own default
# (50 ms) unless ESCDELAY is set here, as it would be in a user's shell.
ESCDELAY = os.environ.get("ESCDELAY")
WORKFLOWS = "[ ] pages, / filter"  # text only the workflows view shows
EXECUTIONS = "s status, / workflow"  # and the executions view


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def _screen() -> str:
    return _tmux("capture-pane", "-p", "-t", SESSION)


def _wait_for(text: str, gone: str | None = None, timeout: float = 10.0) -> float:
    start = time.perf_counter()
    while text not in (screen := _screen()) or (gone is not None and gone in screen):
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"the console never showed {text!r}:\n{_screen()}")
    return time.perf_counter() - start


def _press(key: str, shows: str, gone: str | None = None) -> float:
    """Milliseconds from sending ``key`` until the terminal shows ``shows`` (and not ``gone``)."""
    start = time.perf_counter()
    _tmux("send-keys", "-t", SESSION, key)
    _wait_for(shows, gone)
    took = (time.perf_counter() - start) * 1000
    time.sleep(0.05)  # a person's pace: keys sent back to back would merge (Esc + Enter)
    return took


def measure(steps: int, presses: int, *, graph: bool = False) -> dict[str, Any]:
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed: apt-get install tmux")
    with tempfile.TemporaryDirectory(prefix="wfe-latency-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'latency.db'}"
        db = store.open_store(url)
        # With the graph, slower steps: the execution must run all through the presses.
        pause = "50ms" if graph else "1ms"
        body = "".join(
            f"  - {{id: s{i}, log: 'step {i}'}}\n"
            if i % 2
            else f"  - {{id: s{i}, sleep: {pause}}}\n"
            for i in range(steps)
        )
        store.save_workflows(db, [(definition.parse(f"name: big\nsteps:\n{body}"), None)])
        _tmux("kill-session", "-t", SESSION)
        # A running tmux server keeps its own environment: pass ours in the command.
        command = (
            ("env " if ESCDELAY else "env -u ESCDELAY ")
            + f"WFE_DATABASE_URL={shlex.quote(url)} XDG_CONFIG_HOME={shlex.quote(tmp)}"
            + (f" ESCDELAY={shlex.quote(ESCDELAY)}" if ESCDELAY else "")
            + f" {shlex.quote(sys.executable)} -m engine.cli; sleep 5"
        )
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", command],
            check=True,
        )
        try:
            _wait_for("WorkflowEngine")
            _tmux("send-keys", "-t", SESSION, "2")
            _wait_for(WORKFLOWS)
            _tmux("send-keys", "-t", SESSION, "r")
            _wait_for("Run big")
            _tmux("send-keys", "-t", SESSION, "Enter")
            _wait_for("Started execution")
            _press("3", EXECUTIONS)
            others: dict[str, list[float]]
            times: list[float] = []
            if graph:
                # The live graph of the running execution: D opens it, Esc closes it, and
                # j / k move the cursor (the line under the graph names the step).
                _press("Enter", "Execution 1")
                # (D closes it too: Esc would add the 50 ms a lone Esc waits for.)
                others = {"D": [], "D back": []}
                for _ in range(max(1, presses // 4)):
                    others["D"].append(_press("D", " graph · "))
                    others["D back"].append(_press("D", "Execution 1", gone=" graph · "))
                _press("D", "needed by:")
                for i in range(presses):
                    key, shows = ("j", "needs: s0 ") if i % 2 == 0 else ("k", "needs: nothing")
                    times.append(_press(key, shows))
            else:
                # The heavier keys first, while the workflow surely runs: its detail with
                # the live log (Enter, then Esc back) and the help modal (? then Esc).
                others = {"Enter": [], "BSpace": [], "?": [], "Esc": []}
                for _ in range(max(1, presses // 4)):
                    others["Enter"].append(_press("Enter", "Execution 1"))
                    others["BSpace"].append(_press("BSpace", EXECUTIONS, gone="Execution 1"))
                    others["?"].append(_press("?", "Keys: "))
                    others["Esc"].append(_press("Escape", EXECUTIONS, gone="Keys: "))
                for i in range(presses):
                    key, shows = ("2", WORKFLOWS) if i % 2 == 0 else ("3", EXECUTIONS)
                    times.append(_press(key, shows))
            running = store.list_executions(db, status="running")[1]
            _tmux("send-keys", "-t", SESSION, "q")
            time.sleep(1)
        finally:
            _tmux("kill-session", "-t", SESSION)
            db.close()
    in_order = list(times)
    times.sort()
    return {
        "times_ms": in_order,
        "p50_ms": statistics.median(times),
        "p99_ms": _p99(times),
        "max_ms": times[-1],
        "presses": presses,
        "running_at_end": running,
        "keys": {
            key: {"p50_ms": statistics.median(ts), "p99_ms": _p99(ts), "times_ms": ts}
            for key, ts in others.items()
        },
    }


def _p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m console.latency")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--raw", action="store_true", help="also print each press's time, in order")
    parser.add_argument(
        "--graph", action="store_true", help="time the keys of the live graph view (D)"
    )
    args = parser.parse_args()
    r = measure(args.steps, args.presses, graph=args.graph)
    if args.raw:
        print("views:", " ".join(f"{t:.0f}" for t in r["times_ms"]))
    state = "still running" if r["running_at_end"] else "finished before the last press"
    what = "graph cursor (j/k)" if args.graph else "view switch"
    print(
        f"key press -> effect shown, while a {args.steps:,}-step workflow runs ({state}):"
        f" {what} p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms over {r['presses']}"
    )
    names = {
        "Enter": "Enter (its detail)",
        "BSpace": "Backspace (back)",
        "?": "? (help)",
        "Esc": "Esc (close the graph)" if args.graph else "Esc (close help)",
        "D": "D (open the live graph)",
        "D back": "D again (back to the execution)",
    }
    for key, k in r["keys"].items():
        if args.raw:
            print(f"{key}:", " ".join(f"{t:.0f}" for t in k["times_ms"]))
        print(
            f"  {names[key]}: p50 {k['p50_ms']:.1f} ms, p99 {k['p99_ms']:.1f} ms"
            f" over {len(k['times_ms'])}"
        )
    print(f"  (a lone Esc waits ESCDELAY for the rest of a sequence: {ESCDELAY or 50} ms)")


if __name__ == "__main__":
    main()
