from __future__ import annotations

import importlib
import inspect
import pkgutil

import engine


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name in dir(engine)
        if not name.startswith("_") and not inspect.ismodule(getattr(engine, name))
    }
    assert sorted(engine.__all__) == engine.__all__
    assert set(engine.__all__) == public


def test_lazy_names_are_exported_and_resolve() -> None:
    from engine import definition, store

    for package, lazy in (
        (engine, engine._LAZY),
        (definition, definition._WHERE),
        (store, store._WHERE),
    ):
        assert set(lazy) <= set(package.__all__)  # (ruff keeps __all__ sorted: RUF022)
        for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            if not module.name.endswith("migrations"):
                importlib.import_module(module.name)  # as some command or other will
        for name in package.__all__:
            value = getattr(package, name)
            # A submodule must not shadow a name of the API (engine.store.stats did once).
            assert not inspect.ismodule(value), (package.__name__, name)
