"""``wfe approvals``, ``wfe approve`` and ``wfe reject``: the decisions approval steps wait
for; and ``wfe step --mark``, an operator's word on any other step."""

from __future__ import annotations

import click

from engine.cli import output
from engine.cli.base import EXECUTION_ID, open_db


def _decider() -> str:
    import getpass
    import socket

    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return socket.gethostname()


def _decide(
    ctx: click.Context, execution_id: int, step: str, reason: str | None, *, approve: bool
) -> None:
    from engine import store

    with open_db(ctx) as db:
        store.decide(db, execution_id, step, approve=approve, reason=reason, by=_decider())
    click.echo(f"{'approved' if approve else 'rejected'} execution {execution_id} step {step}")


@click.command()
@click.argument("execution_id", type=EXECUTION_ID)
@click.argument("step")
@click.option("--reason", help="Why (shown in the log).")
@click.pass_context
def approve(ctx: click.Context, execution_id: int, step: str, reason: str | None) -> None:
    """Approve an approval step that is waiting."""
    _decide(ctx, execution_id, step, reason, approve=True)


@click.command()
@click.argument("execution_id", type=EXECUTION_ID)
@click.argument("step")
@click.option("--reason", help="Why (shown in the log and the step's error).")
@click.pass_context
def reject(ctx: click.Context, execution_id: int, step: str, reason: str | None) -> None:
    """Reject an approval step that is waiting; the step fails."""
    _decide(ctx, execution_id, step, reason, approve=False)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def approvals(ctx: click.Context, as_json: bool) -> None:
    """Approval steps waiting for a decision."""
    from engine import store

    with open_db(ctx) as db:
        rows = store.pending_approvals(db)
    if as_json:
        output.as_json([r.as_json() for r in rows])
        return
    if not rows:
        click.echo("Nothing waits for approval.")
        return
    output.table(
        ["execution", "workflow", "step", "asked", "prompt"],
        [
            [
                r.execution_id,
                r.workflow_name,
                r.step_id,
                output.local(r.requested_at),
                r.prompt[:60],
            ]
            for r in rows
        ],
    )


@click.command("step")
@click.argument("execution_id", type=EXECUTION_ID)
@click.argument("step")
@click.option(
    "--mark",
    "status",
    type=click.Choice(["succeeded", "failed"]),
    required=True,
    help="Settle the step so: its dependants go on (succeeded) or are skipped (failed).",
)
@click.option("--reason", required=True, help="Why (recorded with who marked it).")
@click.pass_context
def step(ctx: click.Context, execution_id: int, step: str, status: str, reason: str) -> None:
    """Settle a stuck or known-good step of a running execution: its attempt is ended (its
    processes too) and it is recorded as marked, with who and why."""
    from engine import store

    with open_db(ctx) as db:
        mark = store.mark_step(db, execution_id, step, status, reason, _decider())
    click.echo(
        f"execution {execution_id} step {step}: {mark.text}; its runner settles it within seconds"
    )
