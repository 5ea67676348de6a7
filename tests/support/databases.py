"""Fresh PostgreSQL databases for a test, or for a benchmark's run under its own prefix."""

from __future__ import annotations

import os
import uuid

from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def fresh_postgres_url(prefix: str = "mr_test") -> str:
    """A new, empty PostgreSQL database for one test (dropped when the server is reset by CI), or for a
    benchmark's run under its own prefix (which drops it at the end)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_postgres(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    from store.db import engine_for

    engine_for.cache_clear()
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
