from __future__ import annotations

import engine


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in dir(engine) if not name.startswith("_")}
    modules = {
        "cli",
        "definition",
        "errors",
        "executor",
        "expressions",
        "settings",
        "steps",
        "store",
    }
    assert sorted(engine.__all__) == engine.__all__
    assert set(engine.__all__) == public - modules
