from __future__ import annotations

import inspect

import engine


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name in dir(engine)
        if not name.startswith("_") and not inspect.ismodule(getattr(engine, name))
    }
    assert sorted(engine.__all__) == engine.__all__
    assert set(engine.__all__) == public
