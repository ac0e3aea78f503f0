from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import definition, store
from engine.runtime import scheduler

# Every test that takes `db` runs on SQLite and on PostgreSQL (skipped, saying why, where
# no server answers).
BACKENDS = ("sqlite", "postgresql")

NOW = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)


def schedule(catchup: str, cron: str = "*/10 * * * *", tz: str = "UTC") -> definition.Schedule:
    return definition.Schedule(cron=cron, timezone=tz, catchup=catchup)  # type: ignore[arg-type]


@pytest.mark.parametrize(("catchup", "fired"), [("latest", 1), ("all", 12), ("skip", 1)])
def test_due_after_a_two_hour_gap(catchup: str, fired: int) -> None:
    ticks = scheduler.due(schedule(catchup), NOW - timedelta(hours=2), NOW)
    assert len(ticks) == fired
    assert ticks[-1] == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 30 s ago: on time


def test_skip_drops_ticks_that_are_not_on_time() -> None:
    late = NOW + timedelta(minutes=5)  # the 12:00 tick is now five minutes old
    assert scheduler.due(schedule("skip"), NOW - timedelta(hours=2), late) == []
    assert len(scheduler.due(schedule("latest"), NOW - timedelta(hours=2), late)) == 1


def test_ticks_follow_the_time_zone() -> None:
    s = schedule("all", cron="0 2 * * *", tz="Europe/Paris")
    (tick,) = scheduler.ticks_between(
        s, datetime(2026, 11, 26, 12, tzinfo=UTC), datetime(2026, 11, 27, 12, tzinfo=UTC)
    )
    assert tick == datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 02:00 in Paris, in winter


def add_scheduled(db: store.Store, catchup: str) -> store.Workflow:
    text = f"name: nightly\nparams: {{n: 1}}\nschedule: {{cron: '*/10 * * * *', catchup: {catchup}}}\nsteps: [{{id: a, log: x}}]\n"
    store.save_workflows(db, [(definition.parse(text), None)])
    return store.get_workflow(db, "nightly")


def test_fire_after_a_two_hour_gap_with_latest_fires_once(db: store.Store) -> None:
    add_scheduled(db, "latest")
    assert scheduler.fire(db, NOW - timedelta(hours=2)) == []  # first sight: the mark is set
    fired = scheduler.fire(db, NOW)
    assert [(e.workflow_name, e.trigger, e.params) for e in fired] == [
        ("nightly", "schedule 2026-11-27 12:00", {"n": 1})
    ]
    assert scheduler.fire(db, NOW) == []  # never twice for one tick
    assert store.list_executions(db)[1] == 1


def test_fire_all_catches_up_every_tick(db: store.Store) -> None:
    add_scheduled(db, "all")
    scheduler.fire(db, NOW - timedelta(hours=2))
    assert len(scheduler.fire(db, NOW)) == 12


def test_disabled_workflows_do_not_fire(db: store.Store) -> None:
    add_scheduled(db, "all")
    scheduler.fire(db, NOW - timedelta(hours=2))
    store.set_active(db, "nightly", False)
    assert scheduler.fire(db, NOW) == []
