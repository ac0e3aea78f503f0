"""on: hooks after the main steps, on a real store, posting to a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trio

from engine import runtime, store
from tests.support import NO_POLL, Wfe, add, logs_of, run, steps_of, wait_until

BACKENDS = ("sqlite", "postgresql")

HOOKED = """
name: hooked
params: {fail: true}
steps:
  - id: work
    run: "echo working; [ ${{ params.fail }} = false ]"
  - id: more
    log: never
on:
  failure:
    - id: tell
      log: "${{ execution.status }} | ${{ execution.error }} | ${{ join(execution.failed_steps) }}"
    - id: broken
      run: "false"
  success:
    - id: yay
      log: "ok: ${{ steps.work.output }}"
  always:
    - id: bye
      log: "always ${{ execution.status }}"
"""


@pytest.mark.trio
async def test_failure_hooks_run_read_the_end_and_never_change_it(db: store.Store) -> None:
    add(db, HOOKED)
    handle = await run(db, "hooked")
    assert handle.status == "failed"
    e = store.get_execution(db, handle.id)
    assert e.status == "failed" and e.error == "step 'work' failed: exited with code 1"
    got = steps_of(db, handle.id)
    # A hook that fails is recorded failed; the execution's status stays its own.
    assert got == {
        "work": ("failed", 1),
        "more": ("skipped", 1),
        "tell": ("succeeded", 1),
        "broken": ("failed", 1),
        "bye": ("succeeded", 1),
    }
    assert logs_of(db, handle.id)[-2:] == [
        "failed | step 'work' failed: exited with code 1 | work",
        "always failed",
    ]
    # In the main steps' order, then the hooks': the positions follow the file.
    assert [r.step_id for r in store.step_runs(db, handle.id)] == [
        "work",
        "more",
        "tell",
        "broken",
        "bye",
    ]


@pytest.mark.trio
async def test_success_hooks_run_on_success(db: store.Store) -> None:
    add(db, HOOKED)
    handle = await run(db, "hooked", {"fail": False})
    assert handle.status == "succeeded"
    assert list(steps_of(db, handle.id)) == ["work", "more", "yay", "bye"]
    assert logs_of(db, handle.id)[-2:] == ["ok: working", "always succeeded"]


@pytest.mark.trio
async def test_cancelled_and_timed_out_executions_run_their_hooks(db: store.Store) -> None:
    add(
        db,
        """
        name: slow
        timeout: 1s
        steps:
          - {id: wait, run: "sleep 30"}
        on:
          cancelled:
            - {id: said, log: "cancelled: ${{ execution.error }}"}
          failure:
            - {id: late, log: "${{ execution.status }}: ${{ execution.error }}"}
        """,
    )
    async with runtime.open_executor(db, **NO_POLL) as ex:
        handle = await ex.start("slow")
        with trio.fail_after(10):
            while steps_of(db, handle.id).get("wait", ("",))[0] != "running":
                await trio.sleep(0.02)
        ex.cancel(handle.id, "cancelled by a test")
        await handle.wait()
        timed = await ex.run("slow")
    assert store.get_execution(db, handle.id).status == "cancelled"
    assert steps_of(db, handle.id) == {"wait": ("cancelled", 1), "said": ("succeeded", 1)}
    assert logs_of(db, handle.id)[-1] == "cancelled: cancelled by a test"
    assert store.get_execution(db, timed.id).status == "timed_out"
    assert logs_of(db, timed.id)[-1] == ("timed_out: the execution ran past its timeout of 1s")


@pytest.mark.trio
async def test_a_hook_can_be_cancelled_and_leaves_nothing_running(db: store.Store) -> None:
    add(
        db,
        """
        name: h
        steps:
          - {id: a, log: x}
        on:
          always:
            - {id: stuck, run: "sleep 30"}
        """,
    )
    async with runtime.open_executor(db, **NO_POLL) as ex:
        handle = await ex.start("h")
        with trio.fail_after(10):
            while steps_of(db, handle.id).get("stuck", ("",))[0] != "running":
                await trio.sleep(0.02)
        assert store.get_execution(db, handle.id).status == "running"  # its hooks run
        ex.cancel(handle.id)
        await handle.wait()
    assert store.get_execution(db, handle.id).status == "succeeded"
    (stuck,) = [r for r in store.step_runs(db, handle.id) if r.step_id == "stuck"]
    assert (stuck.status, stuck.error) == ("cancelled", "cancelled while the execution's hooks ran")


class Receiver(BaseHTTPRequestHandler):
    posts: list[tuple[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.posts.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that keeps what is posted to it."""
    Receiver.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.trio
async def test_a_failure_hook_posts_slack_and_teams_messages(
    db: store.Store, receiver: str
) -> None:
    add(
        db,
        f"""
        name: nightly
        secrets: [HOOK_TOKEN]
        steps:
          - {{id: backup, run: "echo disk full >&2; exit 3"}}
        on:
          failure:
            - id: slack
              http:
                method: POST
                url: {receiver}/slack/${{{{ secrets.HOOK_TOKEN }}}}
                json:
                  text: "${{{{ format('{{0}} #{{1}} failed: {{2}}', 'nightly', execution.id, execution.error) }}}}"
            - id: teams
              needs: []
              http:
                method: POST
                url: {receiver}/teams
                json:
                  "@type": MessageCard
                  summary: nightly failed
                  sections:
                    - activityTitle: "nightly #${{{{ execution.id }}}}"
                      facts:
                        - {{name: failed steps, value: "${{{{ join(execution.failed_steps, ', ') }}}}"}}
        """,
    )
    handle = await run(db, "nightly", environ={"HOOK_TOKEN": "t0ps3cret"})
    assert handle.status == "failed"
    posts = dict(Receiver.posts)
    assert posts["/slack/t0ps3cret"] == {
        "text": f"nightly #{handle.id} failed: step 'backup' failed: exited with code 3: disk full"
    }
    card = posts["/teams"]
    assert card["@type"] == "MessageCard"
    assert card["sections"][0]["facts"] == [{"name": "failed steps", "value": "backup"}]
    assert steps_of(db, handle.id)["slack"] == ("succeeded", 1)
    # The secret in the URL is masked wherever it is kept.
    assert "t0ps3cret" not in json.dumps([r.as_json() for r in store.step_runs(db, handle.id)])


def test_a_worker_killed_while_hooks_run_is_taken_over_and_the_end_is_kept(
    wfe: Wfe, db: store.Store, tmp_path: Path
) -> None:
    effects = tmp_path / "effects"
    go = tmp_path / "go"
    f = tmp_path / "h.yaml"
    f.write_text(
        f"""name: h
steps:
  - {{id: work, run: "echo work >> {effects}; false"}}
on:
  failure:
    - id: first
      run: echo first >> {effects}
    - id: slow
      run: |
        echo slow >> {effects}
        while [ ! -e {go} ]; do sleep 0.05; done
"""
    )
    wfe("workflow", "add", str(f))
    execution_id = int(wfe("run", "h", "--detach").stdout)
    first = wfe.start("worker", "--lease", "1s")
    try:
        wait_until(
            lambda: any(r.step_id == "slow" and r.pid for r in store.step_runs(db, execution_id))
        )
    finally:
        first.kill()  # SIGKILL while a hook runs
        first.communicate(timeout=10)
    go.touch()
    second = wfe.start("worker", "--lease", "1s")
    try:
        wait_until(lambda: store.get_execution(db, execution_id).status == "failed", timeout=30)
    finally:
        second.terminate()
        second.communicate(timeout=30)
    # The main step and the first hook had ended: kept. The hook that ran runs again.
    assert effects.read_text().split() == ["work", "first", "slow", "slow"]
    e = store.get_execution(db, execution_id)
    assert e.error == "step 'work' failed: exited with code 1"
    got = [(r.step_id, r.attempt, r.status) for r in store.step_runs(db, execution_id)]
    assert got == [
        ("work", 1, "failed"),
        ("first", 1, "succeeded"),
        ("slow", 1, "failed"),
        ("slow", 2, "succeeded"),
    ]


@pytest.mark.trio
async def test_in_hooks_failure_and_cancelled_say_how_the_execution_ended(
    db: store.Store,
) -> None:
    add(
        db,
        """
        name: st
        params: {fail: true}
        steps:
          - {id: work, run: "[ ${{ params.fail }} = false ]"}
        on:
          always:
            - {id: on-failure, if: "${{ failure() }}", log: failed}
            - {id: on-cancel, needs: [], if: "${{ cancelled() }}", log: cancelled}
            - {id: on-success, needs: [], if: "${{ success() }}", log: succeeded}
        """,
    )
    failed = await run(db, "st")
    ok = await run(db, "st", {"fail": False})
    assert {k: v[0] for k, v in steps_of(db, failed.id).items()} == {
        "work": "failed",
        "on-failure": "succeeded",
        "on-cancel": "skipped",
        "on-success": "skipped",  # in a hook, success() is the execution's too
    }
    assert {k: v[0] for k, v in steps_of(db, ok.id).items()} == {
        "work": "succeeded",
        "on-failure": "skipped",
        "on-cancel": "skipped",
        "on-success": "succeeded",
    }
