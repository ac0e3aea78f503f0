"""Contexts: stores named in config.toml, picked with --context or $WFE_CONTEXT."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import contexts, definition, store
from engine.errors import EngineError
from tests.support import EXAMPLES, Wfe


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(contexts.ENV_CONTEXT, raising=False)
    monkeypatch.setenv("WFE_DATABASE_URL", str(tmp_path / "default.db"))
    path = tmp_path / "config" / "workflow-engine" / "config.toml"
    path.parent.mkdir(parents=True)
    return path


def test_default_is_always_there_and_named_ones_follow(config: Path, tmp_path: Path) -> None:
    assert list(contexts.load()) == ["default"]  # no file
    config.write_text(
        '[contexts.prod]\nurl = "postgresql://db.internal/wfe"\nread_only = true\n'
        '[contexts.scratch]\nurl = "~/scratch.db"\n'
    )
    known = contexts.load()
    assert list(known) == ["default", "prod", "scratch"]
    assert known["default"].url == f"sqlite:///{tmp_path / 'default.db'}"
    assert known["prod"] == contexts.Context("prod", "postgresql://db.internal/wfe", True)
    assert known["scratch"].url == f"sqlite:///{Path('~/scratch.db').expanduser()}"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[contexts.prod]\n", "contexts.prod.url: expected a database URL"),
        ("[contexts.prod]\nurl = 3\n", "contexts.prod.url: expected a database URL"),
        ('[contexts.prod]\nurl = "x.db"\nread_only = "yes"\n', "contexts.prod.read_only"),
        ('[contexts.prod]\nurl = "x.db"\nuser = "me"\n', "unknown key 'user'"),
        ("contexts = 3\n", "contexts: expected tables"),
        ("[contexts\n", "config.toml"),
    ],
)
def test_a_wrong_table_is_named(config: Path, text: str, error: str) -> None:
    config.write_text(text)
    with pytest.raises(EngineError, match=r"config\.toml") as caught:
        contexts.load()
    assert error in str(caught.value)


def test_pick_by_flag_or_environment_and_refuse_what_is_not_there(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text(f'[contexts.other]\nurl = "{tmp_path / "other.db"}"\n')
    assert contexts.pick("other").url.endswith("other.db")
    monkeypatch.setenv(contexts.ENV_CONTEXT, "other")
    assert contexts.pick(None).name == "other"
    with pytest.raises(EngineError, match="no context 'nope'; known: default, other"):
        contexts.pick("nope")
    with pytest.raises(EngineError, match="--db or --context, not both"):
        contexts.pick("other", "x.db")


def test_every_command_works_on_the_context_it_is_given(config: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    config.write_text(f'[contexts.other]\nurl = "{other}"\n')
    db = store.open_store(f"sqlite:///{other}")
    store.save_workflows(db, [(definition.load(EXAMPLES / "fan-out.yaml"), None)])
    db.close()
    wfe = Wfe(f"sqlite:///{tmp_path / 'default.db'}")
    listed = wfe.invoke("--context", "other", "workflow", "list")
    assert listed.exit_code == 0 and "fan-out" in listed.stdout
    assert "fan-out" not in wfe.invoke("workflow", "list").stdout  # the default store
    wrong = wfe.invoke("--context", "nope", "workflow", "list")
    assert wrong.exit_code != 0 and "no context 'nope'" in wrong.stderr


def test_a_store_named_by_db_is_shown_by_its_url_and_default_may_be_configured(
    config: Path, tmp_path: Path
) -> None:
    chosen = contexts.pick(None, "postgresql://me:hunter2@db.internal/wfe")
    assert chosen.name == "postgresql://me:***@db.internal/wfe"  # never "default"
    assert "hunter2" in chosen.url and "hunter2" not in chosen.name
    config.write_text(f'[contexts.default]\nurl = "{tmp_path / "mine.db"}"\n')
    assert contexts.pick(None).url == f"sqlite:///{tmp_path / 'mine.db'}"
