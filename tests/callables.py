"""Python callables that tests run as `python:` steps."""

from __future__ import annotations

from typing import Any

import trio

calls: dict[str, int] = {}
running = 0
peak = 0
reached = trio.Event()  # set when a step reaches the gate
gate = trio.Event()  # set by the test to let them through


def reset() -> None:
    global running, peak, reached, gate
    calls.clear()
    running = peak = 0
    reached, gate = trio.Event(), trio.Event()


async def flaky(key: str, fail_times: int) -> str:
    # async: a worker thread would let the mock clock jump past timeouts.
    calls[key] = calls.get(key, 0) + 1
    if calls[key] <= fail_times:
        raise RuntimeError(f"not yet ({calls[key]})")
    return f"ok after {calls[key]}"


async def track(seconds: float = 1.0) -> int:
    """An async trio step that records how many of its kind run at once."""
    global running, peak
    running += 1
    peak = max(peak, running)
    try:
        await trio.sleep(seconds)
    finally:
        running -= 1
    return peak


async def wait_at_gate() -> str:
    """An async trio step that waits until the test opens the gate."""
    reached.set()
    await gate.wait()
    return "through"


def add(a: int, b: int) -> int:
    return a + b


def not_json() -> Any:
    return object()


def boom() -> None:
    raise ValueError("the widget is broken")


def echo(value: Any) -> Any:
    return value
