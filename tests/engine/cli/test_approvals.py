"""``wfe approvals``, ``wfe approve`` and ``wfe reject`` (with workers: runtime/test_worker.py)."""

from __future__ import annotations

from pathlib import Path

from tests.support import Wfe

APPROVAL = """name: deploy
steps:
  - id: build
    log: built
  - id: gate
    approval: {{prompt: "Ship build to production?", timeout: {timeout}}}
  - id: ship
    log: "shipping, approved by ${{{{ steps.gate.output.approved_by }}}}"
"""


def test_approval_times_out_and_fails_the_step(wfe: Wfe, tmp_path: Path) -> None:
    f = tmp_path / "deploy.yaml"
    f.write_text(APPROVAL.format(timeout="1s"))
    wfe("workflow", "add", str(f))
    proc = wfe("run", "deploy")
    assert proc.exit_code == 1
    assert "step 'gate' timed out: no decision within 1s" in proc.stdout
