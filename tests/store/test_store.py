"""The Alembic migration builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from store.db import normalise_url
from store.models import Base


def test_migrations_match_the_models(any_db_url: str) -> None:
    engine = create_engine(normalise_url(any_db_url))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert {"cases", "received_events", "dead_letters", "outbound_messages", "timeline", "ledger", "tickets",
            "calendar_entries"} <= tables  # fmt: skip
