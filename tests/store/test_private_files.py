"""VAR_DIR holds patient data (the SQLite database, the webhook spool) and the embedded codec key: this
user's only, whatever the umask (seen before: `makeright.db` 0644)."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import spool
from store.db import Store, migrate
from tests.support.settings import make_settings


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most machines run with (022): files 0644, folders 0755 unless the code says otherwise."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_var_dir_is_0700_and_its_patient_files_0600(usual_umask: None, tmp_path: Path) -> None:
    var = tmp_path / "state" / "var"
    url = f"sqlite:///{var / 'makeright.db'}"
    # what `make run` does first: the codec key (embedded mode), the migration, the store, the spool
    settings = make_settings(url, var, codec_keys="")
    settings.key_ring()
    migrate(url)
    store = Store(url)
    store.ping()
    answer = spool.Answer("twilio_sms", "SM1", "+31612345678", "1", None, {})
    assert spool.Spool(var).put_answer(answer)

    assert mode(var) == 0o700
    files = ["makeright.db", "codec.key", spool.FILE_NAME]
    for name in files:
        assert mode(var / name) == 0o600, name
    # SQLite's companions while a connection is open (WAL mode) take the database file's mode
    conn = sqlite3.connect(var / "makeright.db")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
        conn.commit()
        companions = [p for p in var.iterdir() if p.name.endswith(("-wal", "-shm"))]
        assert companions, sorted(p.name for p in var.iterdir())
        for path in companions:
            assert mode(path) == 0o600, path.name
    finally:
        conn.close()


def test_a_database_an_older_run_left_readable_is_narrowed(usual_umask: None, tmp_path: Path) -> None:
    var = tmp_path / "old"
    var.mkdir()
    for name in ("makeright.db", "makeright.db-wal"):
        (var / name).touch()
        os.chmod(var / name, 0o644)
    url = f"sqlite:///{var / 'makeright.db'}"
    Store(url)
    assert mode(var / "makeright.db") == 0o600
    assert mode(var / "makeright.db-wal") == 0o600
