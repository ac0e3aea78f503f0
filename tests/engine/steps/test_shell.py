"""The shell step (``run:``): quoting, its process group, its output and its errors.

First the step on its own (a real shell, a real StepContext, on trio), then through the
executor and the store.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from engine import definition, runtime, store
from engine.definition import commands, expressions
from engine.errors import StepError
from engine.steps import StepContext, processes, shell
from engine.steps.context import OUTPUT_CAP
from tests.support import NO_POLL, add, alive, logs_of, run, steps_of

# Every test that takes `db` runs on SQLite and on PostgreSQL (skipped, saying why, where
# no server answers).
BACKENDS = ("sqlite", "postgresql")


# -- compile_command: a value is data wherever its placeholder stands -----------------------


def compiled(command: str) -> str:
    compiled = commands.compile_command(expressions.template(command))
    assert len(compiled.nodes) == command.count("${{")
    return compiled.script


def test_compile_command_bare_placeholder_is_double_quoted() -> None:
    assert compiled("echo ${{ params.x }}") == 'echo "${WFE_EXPR_0}"'


def test_compile_command_inside_double_quotes_stays_in_them() -> None:
    assert compiled('echo "value: ${{ params.x }}"') == 'echo "value: ${WFE_EXPR_0}"'


def test_compile_command_inside_single_quotes_steps_out_and_back() -> None:
    assert compiled("echo 'value: ${{ params.x }}'") == "echo 'value: '\"${WFE_EXPR_0}\"''"


def test_compile_command_numbers_each_placeholder() -> None:
    assert compiled("cp ${{ params.a }} '${{ params.b }}' \"${{ params.c }}\"") == (
        'cp "${WFE_EXPR_0}" \'\'"${WFE_EXPR_1}"\'\' "${WFE_EXPR_2}"'
    )


def test_compile_command_quotes_in_a_comment_mean_nothing() -> None:
    # The apostrophe after # does not open a quote: the next line starts unquoted.
    assert compiled("true # it's fine\necho ${{ params.x }}") == (
        'true # it\'s fine\necho "${WFE_EXPR_0}"'
    )
    # Nor on its own line: a placeholder after it is quoted as if bare (the shell ignores it).
    assert compiled("echo a # it's ${{ params.x }}") == 'echo a # it\'s "${WFE_EXPR_0}"'


def test_compile_command_a_hash_inside_a_word_is_not_a_comment() -> None:
    assert compiled("echo a#'${{ params.x }}'") == "echo a#''\"${WFE_EXPR_0}\"''"


def test_compile_command_an_escaped_quote_opens_nothing() -> None:
    assert compiled("echo \\' ${{ params.x }}") == 'echo \\\' "${WFE_EXPR_0}"'
    assert compiled('echo "a\\" ${{ params.x }}"') == 'echo "a\\" ${WFE_EXPR_0}"'


# -- execute: a real shell on trio --------------------------------------------------------------


@dataclass
class Shell:
    """Runs ``run:`` steps through shell.execute, keeping what they log and start."""

    http: httpx.AsyncClient
    lines: list[tuple[str, str]] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)

    async def __call__(
        self,
        command: str,
        params: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        attempt: int = 1,
    ) -> Any:
        step = definition.Step.model_validate({"id": "s", "run": command, "env": env or {}})
        ctx = StepContext(
            execution_id=7,
            step_id="s",
            expression_context={"params": params or {}},
            environ={"PATH": "/usr/bin:/bin"},
            emit=lambda stream, text: self.lines.append((stream, text)),
            http_client=self.http,
            kill_grace=0.5,
            attempt=attempt,
            started=self.groups.append,
        )
        return await shell.execute(ctx, step)

    def stream(self, name: str) -> list[str]:
        return [text for stream, text in self.lines if stream == name]


@pytest.fixture
async def sh() -> AsyncIterator[Shell]:
    async with httpx.AsyncClient() as client:
        yield Shell(client)


@pytest.mark.trio
async def test_execute_returns_stdout_and_logs_each_line(sh: Shell) -> None:
    outcome = await sh("echo hello; echo world; echo oops >&2")
    assert (outcome.output, outcome.exit_code) == ("hello\nworld", 0)
    assert sh.stream("stdout") == ["hello", "world"]
    assert sh.stream("stderr") == ["oops"]
    (pgid,) = sh.groups  # its process group, reported as it starts
    assert pgid > 0 and not alive(pgid)


@pytest.mark.trio
async def test_execute_fails_with_the_exit_code_and_the_last_stderr_line(sh: Shell) -> None:
    with pytest.raises(StepError, match=r"^exited with code 3: second$") as caught:
        await sh("echo first >&2; echo second >&2; echo out; exit 3")
    assert caught.value.exit_code == 3
    assert sh.stream("stderr") == ["first", "second"] and sh.stream("stdout") == ["out"]


@pytest.mark.trio
async def test_execute_fails_without_stderr_with_the_code_alone(sh: Shell) -> None:
    with pytest.raises(StepError, match=r"^exited with code 5$") as caught:
        await sh("exit 5")
    assert caught.value.exit_code == 5


@pytest.mark.trio
async def test_execute_names_the_signal_that_killed_it(sh: Shell) -> None:
    with pytest.raises(StepError, match=r"^killed by signal SIGKILL$") as caught:
        await sh("kill -9 $$")
    assert caught.value.exit_code == -signal.SIGKILL


@pytest.mark.trio
async def test_execute_caps_an_output_past_64_kib(sh: Shell) -> None:
    outcome = await sh("head -c 200000 /dev/zero | tr '\\0' a")
    assert outcome.output == "a" * OUTPUT_CAP + (
        f"\n[output truncated: 200,000 bytes, the first {OUTPUT_CAP:,} kept]"
    )
    # The log keeps a line's start, and says how long it was.
    assert sh.stream("stdout") == ["a" * shell.MAX_LINE + " [line cut: 200,000 bytes]"]


@pytest.mark.trio
@pytest.mark.parametrize("wait", ["", "sleep 0.2; "], ids=["quick", "streamed"])
async def test_execute_keeps_partial_last_lines_on_both_streams(sh: Shell, wait: str) -> None:
    # Over before shell.QUICK, or past it while the step streams: partial lines kept.
    outcome = await sh(f"{wait}printf 'a\\nb'; printf 'e1\\ne2' >&2")
    assert outcome.output == "a\nb"
    assert sh.stream("stdout") == ["a", "b"]
    assert sh.stream("stderr") == ["e1", "e2"]


@pytest.mark.trio
async def test_execute_passes_values_and_the_attempt_through_the_environment(
    sh: Shell, tmp_path: Path
) -> None:
    payload = f"$(touch {tmp_path / 'pwned'}); '\""
    outcome = await sh(
        'echo ${{ params.x }}; echo "$WFE_STEP_RUN"; echo "$GREETING"',
        params={"x": payload},
        env={"GREETING": "hi ${{ params.x }}"},
        attempt=2,
    )
    assert outcome.output == f"{payload}\n7/s/2\nhi {payload}"
    assert not (tmp_path / "pwned").exists()


@pytest.mark.trio
async def test_execute_ends_what_the_command_left_in_its_group(sh: Shell, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with trio.fail_after(10):
        outcome = await sh(f"(sleep 300 & echo $! > {pid_file}); echo started")
    assert outcome.output == "started"
    assert not alive(int(pid_file.read_text()))


@pytest.mark.trio
async def test_execute_cancelled_ends_its_group(sh: Shell, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            sh, f"sleep 300 & echo $! > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; wait"
        )
        with trio.fail_after(10):
            while not pid_file.exists():
                await trio.sleep(0.02)
        nursery.cancel_scope.cancel()
    (pgid,) = sh.groups
    assert not alive(pgid) and not alive(int(pid_file.read_text()))


# -- processes: finding and ending what a dead runner left ---------------------------------------


def left_running(runner: str, token: str, *, ignore_term: bool = False) -> subprocess.Popen[str]:
    """A process group as a dead runner's shell leaves it, marked by its environment."""
    script = ("trap '' TERM; " if ignore_term else "") + "echo ready; exec sleep 60"
    proc = subprocess.Popen(
        ["bash", "-c", script],
        env={processes.RUNNER: runner, processes.TOKEN: token, "PATH": "/usr/bin:/bin"},
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


@pytest.fixture
def groups() -> Any:
    started: list[subprocess.Popen[str]] = []

    def start(runner: str, token: str, **kw: bool) -> subprocess.Popen[str]:
        started.append(left_running(runner, token, **kw))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_groups_left_by_finds_a_runner_s_groups_of_one_execution(groups: Any) -> None:
    mine = groups("run:h:1:dead", "5/a/1")
    groups("run:h:1:dead", "50/a/1")  # another execution whose id starts alike
    groups("run:h:2:live", "5/a/1")  # the same execution id, another runner (another store)
    assert processes.groups_left_by("run:h:1:dead", 5) == {mine.pid: "5/a/1"}
    assert processes.groups_left_by("run:h:1:dead", 6) == {}
    assert processes.groups_left_by("nobody", 5) == {}


def test_end_orphans_ends_the_group_of_that_attempt_only(groups: Any) -> None:
    proc = groups("run:h:1:dead", "5/a/1")
    # Another attempt's token: not this group's to end (its id may have been reused).
    assert trio.run(processes.end_orphans, proc.pid, "5/a/2", 0.5) is False
    assert proc.poll() is None
    assert trio.run(processes.end_orphans, proc.pid, "5/a/1", 0.5) is True
    assert proc.wait(timeout=5) == -signal.SIGTERM
    assert trio.run(processes.end_orphans, proc.pid, "5/a/1", 0.5) is False  # gone now


def test_end_orphans_kills_a_group_that_ignores_sigterm(groups: Any) -> None:
    proc = groups("run:h:1:dead", "5/a/1", ignore_term=True)
    assert trio.run(processes.end_orphans, proc.pid, "5/a/1", 0.2) is True
    assert proc.wait(timeout=5) == -signal.SIGKILL


# -- through the executor and the store ----------------------------------------------------------


@pytest.mark.trio
async def test_param_cannot_inject_shell_syntax(db: store.Store, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    add(
        db,
        """
        name: inject
        params: {x: safe}
        steps:
          - id: bare
            run: echo ${{ params.x }}
          - id: double
            run: |
              echo "value: ${{ params.x }}"
          - id: single
            run: |
              echo 'value: ${{ params.x }}'
          - id: mixed
            run: |
              echo pre${{ params.x }}post "a'${{ params.x }}" # ${{ params.x }}
        """,
    )
    for payload in [
        f"x; touch {pwned}",
        f"$(touch {pwned})",
        f"`touch {pwned}`",
        f"'; touch {pwned}; '",
        f'"; touch {pwned}; "',
        f"x\ntouch {pwned}",
    ]:
        handle = await run(db, "inject", {"x": payload})
        assert handle.status == "succeeded"
        assert not pwned.exists(), payload
        runs = {r.step_id: r.output for r in store.step_runs(db, handle.id)}
        assert runs["bare"] == payload
        assert runs["double"] == f"value: {payload}"
        assert runs["single"] == f"value: {payload}"
        assert runs["mixed"] == f"pre{payload}post a'{payload}"


@pytest.mark.trio
async def test_a_value_in_a_heredoc_arrives_unchanged(db: store.Store, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    add(
        db,
        """
        name: heredoc
        params: {x: safe}
        steps:
          - id: body
            run: |
              cat <<EOF
              >${{ params.x }}<
              EOF
          - id: stripped
            run: "cat <<-END\\n\\t${{ params.x }}\\n\\tEND"
        """,
    )
    for payload in [
        f"$(touch {pwned})",
        f"`touch {pwned}`",
        'it\'s "quoted" $HOME \\n',
        "EOF\nechoed after the end",
    ]:
        handle = await run(db, "heredoc", {"x": payload})
        assert handle.status == "succeeded", handle.error
        assert not pwned.exists(), payload
        runs = {r.step_id: r.output for r in store.step_runs(db, handle.id)}
        assert runs["body"] == f">{payload}<"  # not '"..."', nor ${WFE_EXPR_0}
        assert runs["stripped"] == payload


@pytest.mark.trio
async def test_a_value_in_arithmetic_must_be_a_number_and_never_runs(
    db: store.Store, tmp_path: Path
) -> None:
    pwned = tmp_path / "pwned"
    add(
        db,
        """
        name: arith
        params: {n: 2}
        steps:
          - id: sum
            run: |
              a=(10 20 30)
              echo $(( ${{ params.n }} * 2 )) ${a[${{ params.n }}]}
              (( ${{ params.n }} > 1 )) && echo big
        """,
    )
    handle = await run(db, "arith", {"n": 2})
    assert handle.status == "succeeded"
    assert [r.output for r in store.step_runs(db, handle.id)] == ["4 30\nbig"]
    for payload in [f"a[$(touch {pwned})]", f"x[`touch {pwned}`]", "1 + 1", True]:
        handle = await run(db, "arith", {"n": payload})
        assert handle.status == "failed"
        assert not pwned.exists(), payload
        (step,) = store.step_runs(db, handle.id)
        assert step.error == (
            f"params.n stands in bash arithmetic and must be a number; it is {payload!r}"
        )


@pytest.mark.trio
async def test_cancel_kills_the_whole_process_group(db: store.Store, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    add(
        db,
        f"""
        name: tree
        steps:
          - id: spawn
            run: |
              sleep 300 &
              echo $! >> {pids}
              bash -c 'trap "" TERM; echo $$ >> {pids}; sleep 300' &
              echo $$ >> {pids}
              wait
        """,
    )
    async with runtime.open_executor(db, kill_grace=0.5, **NO_POLL) as ex:
        handle = await ex.start("tree")
        with trio.fail_after(10):
            while not pids.exists() or len(pids.read_text().split()) < 3:
                await trio.sleep(0.02)
        ex.cancel(handle.id)
        with trio.fail_after(10):
            assert await handle.wait() == "cancelled"
    for pid in map(int, pids.read_text().split()):
        assert not alive(pid), pid  # the TERM-ignoring child got SIGKILL after the grace


@pytest.mark.trio
async def test_no_child_outlives_a_finished_step(db: store.Store, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    add(
        db,
        f"name: orphan\nsteps:\n  - id: leave\n    run: (sleep 300 & echo $! > {pid_file}) ; echo started\n",
    )
    with trio.fail_after(15):
        handle = await run(db, "orphan", kill_grace=0.5)
    assert handle.status == "succeeded"
    assert not alive(int(pid_file.read_text()))


@pytest.mark.trio
async def test_shell_step_timeout_terminates(db: store.Store) -> None:
    add(db, "name: slow\nsteps:\n  - {id: s, run: sleep 30, timeout: 300ms}\n")
    with trio.fail_after(10):
        handle = await run(db, "slow")
    assert steps_of(db, handle.id) == {"s": ("timed_out", 1)}


@pytest.mark.trio
async def test_output_is_capped_and_lines_stream_to_the_log(db: store.Store) -> None:
    add(
        db,
        "name: big\nsteps:\n  - {id: s, run: \"for i in 1 2 3; do echo line $i; echo err $i >&2; done; head -c 200000 /dev/zero | tr '\\\\0' a\"}\n",
    )
    handle = await run(db, "big")
    (r,) = store.step_runs(db, handle.id)
    assert r.output.startswith("line 1\nline 2\nline 3\naaaa")
    assert r.output.endswith("the first 65,536 kept]")
    lines = [(line.stream, line.text) for line in store.log_lines(db, handle.id)]
    assert [t for s, t in lines if s == "stderr"] == ["err 1", "err 2", "err 3"]
    assert [t for s, t in lines if s == "stdout"][:3] == ["line 1", "line 2", "line 3"]


@pytest.mark.trio
async def test_a_quick_command_s_output_is_read_whole(db: store.Store) -> None:
    # Over before shell.QUICK: both pipes read to their end, partial last lines too.
    add(db, "name: q\nsteps:\n  - {id: s, run: \"printf 'a\\\\nb'; printf 'e1\\\\ne2' >&2\"}\n")
    handle = await run(db, "q")
    (r,) = store.step_runs(db, handle.id)
    assert (r.status, r.output) == ("succeeded", "a\nb")
    lines = [(line.stream, line.text) for line in store.log_lines(db, handle.id)]
    assert sorted(lines) == [("stderr", "e1"), ("stderr", "e2"), ("stdout", "a"), ("stdout", "b")]


@pytest.mark.trio
async def test_a_command_reading_stdin_reads_nothing(db: store.Store) -> None:
    # stdin is /dev/null (shared by every shell, never the terminal's or a pipe's).
    add(
        db,
        "name: r\nsteps:\n  - {id: a, run: 'cat; echo done'}\n  - {id: b, run: 'cat; echo again'}\n",
    )
    with trio.fail_after(10):
        handle = await run(db, "r")
    assert [(r.status, r.output) for r in store.step_runs(db, handle.id)] == [
        ("succeeded", "done"),
        ("succeeded", "again"),
    ]


@pytest.mark.trio
async def test_a_long_command_s_output_reaches_the_log_while_it_runs(
    db: store.Store, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    add(
        db,
        f"name: live\nsteps:\n  - id: s\n    run: echo first; "
        f"while [ ! -e {gate} ]; do sleep 0.02; done; echo second\n",
    )
    async with runtime.open_executor(db, **NO_POLL) as ex:
        handle = await ex.start("live")
        with trio.fail_after(10):
            while logs_of(db, handle.id) != ["first"]:
                await trio.sleep(0.02)
        assert not handle.finished
        gate.touch()
        await handle.wait()
    assert logs_of(db, handle.id) == ["first", "second"]
