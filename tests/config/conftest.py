"""Every test of the configuration runs with no setting leaking in from the real environment, in a cwd that
is not the repository, and is skipped on a machine whose own config/local.toml overrides the defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config.settings import CONFIG_DIR
from tests.support.config_env import is_setting


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
