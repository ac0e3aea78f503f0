"""The console's garbage-collector settings: frozen start-up, full collections when idle."""

from __future__ import annotations

import gc

from console import pauses


def test_full_collections_wait_for_a_quiet_moment_and_everything_is_put_back(monkeypatch) -> None:
    before = gc.get_threshold()
    clock = [1000.0]
    monkeypatch.setattr(pauses.time, "monotonic", lambda: clock[0])
    collector = pauses.CollectWhenIdle()
    collector.start()
    try:
        assert gc.get_threshold() == (before[0], before[1], pauses.NEVER)
        assert gc.get_freeze_count() > 0
        clock[0] += pauses.EVERY + 1
        collector.last_input = clock[0] - 0.5  # a key half a second ago: not now
        collector.tick()
        assert collector.collections == 0
        collector.last_input = clock[0] - pauses.QUIET  # quiet long enough
        collector.tick()
        assert collector.collections == 1
        collector.tick()  # and not again before EVERY seconds
        assert collector.collections == 1
    finally:
        collector.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
