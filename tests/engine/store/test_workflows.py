from __future__ import annotations

import pytest

from engine import definition, store
from engine.errors import NotFound, StoreError
from tests.support import add

# Every test that takes `db` runs on SQLite and on PostgreSQL (skipped, saying why, where
# no server answers).
BACKENDS = ("sqlite", "postgresql")


WF = """
name: wf
steps:
  - {id: a, log: one}
"""


def test_save_workflows_bumps_version_only_on_change(db: store.Store) -> None:

    v1 = definition.parse(WF, "wf.yaml")
    assert [s.change for s in store.save_workflows(db, [(v1, None)])] == ["created"]
    assert [s.change for s in store.save_workflows(db, [(v1, None)])] == ["unchanged"]
    v2 = definition.parse(WF.replace("one", "two"), "wf.yaml")
    saved = store.save_workflows(db, [(v2, None)])
    assert [(s.change, s.workflow.version) for s in saved] == [("updated", 2)]
    assert "two" in store.get_workflow(db, "wf").definition


def test_set_active_and_remove(db: store.Store) -> None:
    add(db, WF)
    assert store.set_active(db, "wf", False).active is False
    e = store.create_execution(db, store.get_workflow(db, "wf"), {})
    store.request_cancel(db, e.id or 0)
    assert store.remove_workflow(db, "wf") == 1
    with pytest.raises(NotFound, match=r"^no workflow named 'wf'"):
        store.get_workflow(db, "wf")


def test_remove_refuses_while_running(db: store.Store) -> None:
    add(db, WF)
    e = store.create_execution(db, store.get_workflow(db, "wf"), {})
    with pytest.raises(
        StoreError,
        match=r"^workflow 'wf' has 1 execution\(s\) queued or running; cancel them first$",
    ):
        store.remove_workflow(db, "wf")
    assert store.get_execution(db, e.id or 0).status == "queued"


def test_workflows_sort_by_name_active_or_version(db: store.Store) -> None:
    for name in ("b", "a", "c"):
        add(db, f"name: {name}\nsteps:\n  - {{id: a, log: x}}\n")
    store.set_active(db, "c", False)

    def names(order: str, descending: bool) -> list[str]:
        page, _ = store.list_workflows(db, order=order, descending=descending)
        return [s.workflow.name for s in page]

    assert names("name", False) == ["a", "b", "c"]
    assert names("name", True) == ["c", "b", "a"]
    assert names("active", False) == ["c", "a", "b"]  # disabled first, then by name
