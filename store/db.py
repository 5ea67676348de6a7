"""Engines and sessions; each engine traced (SQLAlchemy spans) once tracing is on."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from config import tracing
from config.private import private_sqlite

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# a PostgreSQL server that does not answer a connection attempt is given up on after this long
CONNECT_TIMEOUT_SECONDS = 5

# What "the database is away" looks like, wrapped by SQLAlchemy or raw from the driver: refused or dropped
# connections, a pool with nothing free. Not a bug in a query (those stay errors).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


# Every exception class that may mean the database is away, for handlers registered by class (the web app's
# 503): `database_unavailable` then tells an outage from a bug. Callers need no `sqlalchemy` import.
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, *DATABASE_UNAVAILABLE)


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be reached now (an outage), rather than a bad query."""
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def normalise_url(url: str) -> str:
    """Accept the usual postgres:// spellings and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# connections one process keeps open, and how many more it may open at a peak
POOL_SIZE = 10
POOL_OVERFLOW = 10


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            # patient data: 0600 in a 0700 folder, made so before SQLite creates the file with the umask
            private_sqlite(Path(path))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    engine = create_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )
    # a connection the database dropped (restart, failover, outage) is replaced before use, so the app
    # recovers by itself once the database is back
    event.listen(engine, "checkout", _replace_if_dropped)
    return engine


def _replace_if_dropped(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Checkout: a pooled PostgreSQL connection the server has closed is replaced (the pool opens a fresh
    one) before it is used. Told without a round trip: an idle connection's socket has nothing to read
    until the server ends it (its goodbye, or the end of the stream), so a socket that is readable, or
    gone, means the connection is. This replaces SQLAlchemy's `pool_pre_ping`, a `SELECT 1` round trip on
    every checkout (half the transactions PostgreSQL counted, and ~15 % of an accepted event's time in the
    web app): bench/RESULTS.md, issue 22. A drop the socket cannot show yet (a cable pulled, no FIN) fails
    the statement instead: a 503 in the web app, a retried activity in the worker, as it would after a
    ping that passed a moment before."""
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("the connection is closed")
    try:
        fd = dbapi_connection.pgconn.socket
        readable, _, failed = select.select([fd], [], [fd], 0)
    except (OSError, ValueError, psycopg.OperationalError):
        raise DisconnectionError("the connection's socket is gone") from None
    if readable or failed:
        raise DisconnectionError("the database ended this connection while it was idle")


_traced_engines: set[int] = set()


def trace(engine: Engine) -> None:
    """SQLAlchemy spans for this engine (once per engine), when tracing is on."""
    if not tracing.enabled() or id(engine) in _traced_engines:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # its declared range stops below SQLAlchemy 2.1, whose engine events it uses are unchanged
    SQLAlchemyInstrumentor().instrument(
        engine=engine, tracer_provider=tracing.provider(), skip_dep_check=True
    )
    _traced_engines.add(id(engine))


def insert_once(s: Session, model: type[Any], unique: tuple[str, ...]) -> Any:
    """An INSERT of `model` that does nothing where a row with the same `unique` columns is there already
    (PostgreSQL and SQLite both say it as ON CONFLICT … DO NOTHING)."""
    dialect = s.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model).on_conflict_do_nothing(
        index_elements=list(unique)
    )


class Store:
    """A session factory bound to one database."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = engine_for(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on error."""
        if tracing.enabled():  # tracing may be turned on after the store was made (web/app.py)
            trace(self.engine)
        with self._sessions() as session, session.begin():
            yield session

    def ping(self) -> None:
        """A trivial query: raises when the database does not answer (readiness)."""
        if tracing.enabled():
            trace(self.engine)
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` with Alembic."""
    from alembic import command
    from alembic.config import Config

    engine_for(url)  # creates the SQLite file's folder when needed
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    command.upgrade(cfg, revision)
