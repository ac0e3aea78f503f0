"""A shell step's stdout and stderr reach the log in the order they were written.

Real shells write a line at a time, one stream after the other, through a real executor
onto a SQLite store; the log's ``seq`` order must be the order of the writes, whether the
command is over within shell.QUICK (read while it is waited for) or streams past it.
"""

from __future__ import annotations

import fcntl

import pytest
import trio

from engine import store
from engine.steps import processes, shell, shell_pipes
from tests.support import add, run

LOOP = 'for i in $(seq 1 200); do echo "$i out"; echo "$((i)) err" >&2; done'


def workflow(command: str) -> str:
    return f"name: order\nsteps:\n  - id: s\n    run: '{command}'\n"


async def logged(db: store.Store, command: str) -> list[tuple[str, str]]:
    add(db, workflow(command))
    handle = await run(db, "order")
    (step,) = store.step_runs(db, handle.id)
    assert step.status == "succeeded", step.error
    lines = store.log_lines(db, handle.id, limit=10_000)
    assert [line.seq for line in lines] == sorted(line.seq for line in lines)
    return [(line.stream, line.text) for line in lines]


def written(*streams: str, count: int = 200) -> list[tuple[str, str]]:
    names = {"out": "stdout", "err": "stderr"}
    return [(names[s], f"{i} {s}") for i in range(1, count + 1) for s in streams]


@pytest.mark.trio
async def test_a_quick_command_s_lines_keep_their_order(db: store.Store) -> None:
    assert await logged(db, "echo 1 out; echo 2 err >&2; echo 3 out") == [
        ("stdout", "1 out"),
        ("stderr", "2 err"),
        ("stdout", "3 out"),
    ]


@pytest.mark.trio
async def test_a_quick_loop_s_lines_keep_their_order(db: store.Store) -> None:
    assert await logged(db, LOOP) == written("out", "err")


@pytest.mark.trio
async def test_a_streamed_loop_s_lines_keep_their_order(db: store.Store) -> None:
    assert shell.QUICK < 0.1  # the sleep takes it past the quick read
    assert await logged(db, f"sleep 0.1; {LOOP}") == written("out", "err")


@pytest.mark.trio
async def test_stderr_first_keeps_its_place_too(db: store.Store) -> None:
    loop = 'for i in $(seq 1 200); do echo "$i err" >&2; echo "$i out"; done'
    assert await logged(db, f"sleep 0.1; {loop}") == written("err", "out")


@pytest.mark.trio
async def test_a_shell_started_on_a_thread_keeps_the_order_too(
    db: store.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where there are no process descriptors the shell starts on a worker thread.
    monkeypatch.setattr(processes, "_pidfds", lambda: False)
    assert await logged(db, LOOP) == written("out", "err")


@pytest.mark.trio
async def test_without_epoll_every_line_still_arrives(
    db: store.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Plain pipes, each followed on its own (macOS): the order only as the reader keeps up.
    monkeypatch.setattr(shell_pipes, "_EPOLL", False)
    lines = await logged(db, f"sleep 0.1; {LOOP}")
    assert sorted(lines) == sorted(written("out", "err"))
    for stream in ("stdout", "stderr"):
        assert [t for s, t in lines if s == stream] == [
            t for s, t in written("out", "err") if s == stream
        ]


@pytest.mark.trio
async def test_the_pipes_grow_once_the_log_is_full() -> None:
    # One page a pipe while the order matters; a megabyte once no more lines are logged.
    pipes = shell_pipes.Pipes()
    sizes: list[int] = []

    class Sink:
        def feed(self, chunk: bytes | bytearray) -> None:
            sizes.append(fcntl.fcntl(reader, fcntl.F_GETPIPE_SZ))

        def end(self) -> None:
            pass

    try:
        reader = pipes._readers[0]
        assert pipes.writers is not None
        proc = await trio.lowlevel.open_process(
            ["head", "-c", "1000000", "/dev/zero"],
            stdout=pipes.writers[0],
            stderr=pipes.writers[1],
        )
        pipes.started()
        with trio.fail_after(10):
            await pipes.read(Sink(), Sink(), full=lambda: len(sizes) > 3)
        await proc.wait()
    finally:
        pipes.close()
    assert sizes[:4] == [shell_pipes.PAGE] * 4
    assert sizes[-1] == shell_pipes.BULK
