"""Fixtures for tests of config.Settings: no setting leaks in from the real environment, the cwd is not the
repository, and a machine's own config/local.toml skips them. Import both names into a test module (they
are autouse there)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config import Settings
from config.settings import CONFIG_DIR

FIELDS = set(Settings.model_fields)


def is_setting(name: str) -> bool:
    bare = name.lower().removeprefix("makeright_")
    return bare in FIELDS or bare.split("__", 1)[0] in FIELDS


def clean_environ() -> dict[str, str]:
    """os.environ without any setting: for subprocesses."""
    return {name: value for name, value in os.environ.items() if not is_setting(name)}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting leaks in from the real environment, and the cwd is not the repository."""
    for name in list(os.environ):
        if is_setting(name):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def no_local_toml() -> None:
    if (CONFIG_DIR / "local.toml").exists():
        pytest.skip("config/local.toml overrides the defaults on this machine")
