"""Schedules: ``schedule:`` cron strings fire executions, once per tick, by one process.

Every runner that may run work (workers, consoles) runs :func:`run`; a lease in the store
(``scheduler``) makes exactly one of them the leader, which fires the ticks. After
downtime, ``catchup`` decides what the missed ticks do: ``skip`` drops them, ``latest``
(the default) fires the last one once, ``all`` fires every one.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import trio
from croniter import croniter

from engine import definition, store
from engine.errors import EngineError

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
ON_TIME = timedelta(seconds=90)  # a tick this recent is "now", not missed
MAX_CATCHUP = 1000


def ticks_between(
    schedule: definition.Schedule, after: datetime, until: datetime
) -> list[datetime]:
    """The schedule's ticks in (after, until], in UTC."""
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    it = croniter(schedule.cron, after.astimezone(zone))
    out: list[datetime] = []
    while len(out) < MAX_CATCHUP:
        tick = it.get_next(datetime).astimezone(UTC)
        if tick > until:
            break
        out.append(tick)
    return out


def next_tick(schedule: definition.Schedule, after: datetime) -> datetime:
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    return croniter(schedule.cron, after.astimezone(zone)).get_next(datetime).astimezone(UTC)


def due(schedule: definition.Schedule, after: datetime, now: datetime) -> list[datetime]:
    """The ticks to fire now, by the schedule's catch-up policy."""
    ticks = ticks_between(schedule, after, now)
    on_time = [t for t in ticks if now - t <= ON_TIME]
    if schedule.catchup == "all":
        return ticks
    if schedule.catchup == "latest":
        return ticks[-1:]
    return on_time[-1:]


def fire(db: store.Store, now: datetime) -> list[store.Execution]:
    """Fire what is due for every active scheduled workflow (the leader calls this)."""
    fired: list[store.Execution] = []
    for row in store.scheduled_workflows(db):
        try:
            wf = definition.parsed(row)
        except EngineError as exc:
            logger.warning("schedule of %s: %s", row.name, exc)
            continue
        if wf.schedule is None:
            continue
        # First sight of this schedule: start counting from now, fire nothing missed.
        ticks = (
            [] if row.last_scheduled_at is None else due(wf.schedule, row.last_scheduled_at, now)
        )
        fired += store.fire_schedule(db, row, ticks, now, wf.params)
    return fired


async def run(
    db: store.Store,
    holder: str,
    *,
    interval: float = 1.0,
    clock: Callable[[], datetime] = store.utcnow,
) -> None:
    """Fire schedules while this process holds the scheduler lease.

    A store that fails is said once (and once when it answers again), not every round.
    """
    failing = False
    while True:
        try:
            leader = await trio.to_thread.run_sync(
                lambda: store.acquire_lease(db, LEASE_NAME, holder, ttl=max(10.0, 5 * interval))
            )
            if leader:
                for e in await trio.to_thread.run_sync(fire, db, clock()):
                    logger.info(
                        "schedule: queued execution %d of %s (%s)", e.id, e.workflow_name, e.trigger
                    )
        except EngineError as exc:
            if not failing:
                logger.warning("schedule: %s; trying again", exc)
            failing = True
        else:
            if failing:
                logger.warning("schedule: the store answers again")
            failing = False
        await trio.sleep(interval)
