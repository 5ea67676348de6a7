"""Files under VAR_DIR hold patient data (the SQLite database, the webhook spool) and the embedded codec
key: readable by this user only, whatever the umask. Folders made for them are 0700, files 0600 (made so
before anything writes to them, and tightened if an older run left them wider)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
# what SQLite keeps beside a database while it is open (WAL mode): the same data, so the same mode
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """The folder, made 0700 when it does not exist yet (its missing parents too). An existing folder is
    left as it is: it may be shared (`/tmp`), and the files in it are private on their own."""
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it a moment ago
            folder.mkdir(mode=DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """The file, created empty with 0600 when missing (its folder with `private_dir`), else narrowed to
    0600 if it is wider."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    _narrow(path)
    return path


def private_sqlite(path: Path) -> Path:
    """A SQLite database file before SQLite opens it: 0600, as are the -wal and -shm files an older run
    left (SQLite gives the ones it makes the database file's mode)."""
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            _narrow(companion)
    return path


def _narrow(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_IMODE(path.stat().st_mode) & ~FILE_MODE:
            os.chmod(path, FILE_MODE)
