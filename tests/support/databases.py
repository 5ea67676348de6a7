"""Fresh migrated databases for a test, or a fresh empty PostgreSQL database for a benchmark's run under its
own prefix.

Running every migration for each of several hundred tests costs minutes of the suite; a test's database
starts instead as a copy of one migrated once per test process: for SQLite a copy of the migrated file,
for PostgreSQL `CREATE DATABASE … TEMPLATE` a database migrated once (dropped when the process ends).
A test that exercises the migrations themselves calls `store.db.migrate` on an empty database, as before."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

_lock = threading.Lock()
_sqlite_template: Path | None = None
_postgres_template: str | None = None


def fresh_postgres_url(prefix: str = "mr_test", template: str | None = None) -> str:
    """A new PostgreSQL database: empty, or a copy of `template` (a database name). For one test (dropped
    by `drop_postgres`, or when the server is reset by CI), or for a benchmark's run under its own prefix
    (which drops it at the end)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    admin.dispose()
    return _url_of(name)


def _url_of(name: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_postgres(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    from store.db import engine_for

    engine_for.cache_clear()
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def migrated_sqlite_url(path: Path) -> str:
    """A SQLite database at `path` with the schema at head: a copy of the one this process migrated."""
    global _sqlite_template
    with _lock:
        if _sqlite_template is None:
            from store.db import engine_for, migrate

            folder = Path(tempfile.mkdtemp(prefix="mr_schema_"))
            atexit.register(shutil.rmtree, folder, True)
            template = folder / "makeright.db"
            migrate(f"sqlite:///{template}")
            engine_for(f"sqlite:///{template}").dispose()
            _sqlite_template = template
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


def migrated_postgres_url() -> str:
    """A new PostgreSQL database with the schema at head: a copy of the one this process migrated."""
    global _postgres_template
    with _lock:
        if _postgres_template is None:
            from store.db import engine_for, migrate

            url = fresh_postgres_url("mr_schema")
            migrate(url)
            engine_for(url).dispose()  # a template takes no copies while anyone is connected to it
            engine_for.cache_clear()
            _postgres_template = url.rsplit("/", 1)[1]
            atexit.register(drop_postgres, url)
    return fresh_postgres_url(template=_postgres_template)
