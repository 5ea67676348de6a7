"""A pooled PostgreSQL connection the server ended while it sat idle is replaced at checkout, so the first
unit of work after a database restart (or a proxy that dropped every connection) succeeds, without a
`SELECT 1` round trip before every checkout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, event, text

from store.db import Store, engine_for
from tests.dispatch.test_outage import CuttableProxy
from tests.support.databases import drop_postgres, migrated_postgres_url


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = migrated_postgres_url()
    try:
        yield url
    finally:
        drop_postgres(url)


def _backend_pids(store: Store) -> set[int]:
    with store.session() as s:
        return {int(s.connection().execute(text("SELECT pg_backend_pid()")).scalar_one())}


def _statements(store: Store) -> list[str]:
    seen: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    return seen


def test_a_connection_the_server_ended_is_replaced_before_it_is_used(pg_url: str) -> None:
    store = Store(pg_url)
    first = _backend_pids(store)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # what a restart does to each backend (waiting until it has gone)
        conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": next(iter(first))})
    admin.dispose()

    second = _backend_pids(store)  # would raise (connection closed) if the stale one were handed out

    assert second and second != first


def test_the_first_unit_of_work_after_every_connection_was_dropped_succeeds(pg_url: str) -> None:
    proxy = CuttableProxy().start()
    url = proxy.url_for(pg_url)
    try:
        store = Store(url)
        with store.session() as s:
            assert s.connection().execute(text("SELECT count(*) FROM cases")).scalar_one() == 0
        proxy.cut()
        proxy.restore()
        with store.session() as s:
            assert s.connection().execute(text("SELECT count(*) FROM cases")).scalar_one() == 0
    finally:
        proxy.cut()
        engine_for(url).dispose()


def test_a_healthy_pooled_connection_is_reused_with_no_ping(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(pg_url)
    first = _backend_pids(store)
    seen = _statements(store)
    pings: list[object] = []

    def ping(conn: object) -> bool:
        pings.append(conn)
        return True

    monkeypatch.setattr(store.engine.dialect, "do_ping", ping)

    again = _backend_pids(store)

    assert again == first  # the same backend: the pool kept it
    assert seen == ["SELECT pg_backend_pid()"] and pings == []  # no round trip of its own to check it
