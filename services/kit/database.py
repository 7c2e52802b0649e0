"""Async engines and the per-request session: one transaction per request, committed on
success and rolled back on any error (service code only flushes).

The database being unreachable during a request (restarting, refusing connections) is a 503
problem+json (services.kit.db_errors), never a 500. A pooled connection the server has closed
(a restart, an idle timeout) is known to asyncpg without a round trip and is replaced at
checkout; one that breaks mid-request invalidates every older connection of the pool, so the
first request after the server is back gets a fresh connection instead of a dead one."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator

from services.kit.db_errors import DatabaseUnavailable, is_database_unavailable
from services.kit.errors import Conflict

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a timezone")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_registry() -> registry:
    """Each service's tables live in their own metadata: they are separate databases."""
    return registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))


def async_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver: postgresql:// -> asyncpg."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# Seconds to open a connection to Postgres (asyncpg's default is 60: a request would hang far
# past the gateway's timeout on an unreachable server).
CONNECT_TIMEOUT_SECONDS = 5
# Seconds a request waits for a pooled connection before its 503.
POOL_TIMEOUT_SECONDS = 10


# Connections kept open per process, and no overflow: a request beyond POOL_SIZE waits for a
# connection (up to POOL_TIMEOUT_SECONDS) instead of opening one that is closed again when it
# is given back. Under 32 concurrent requests a pool of 20 + 10 overflow opened and closed
# connections continuously (connect, authentication, SSL negotiation, statements prepared
# again), more CPU than the requests themselves (README: performance). 20 per process (the
# default of *_DATABASE_POOL_SIZE) keeps the registry and three claims replicas under
# Postgres' default max_connections of 100.
POOL_SIZE = 20
POOL_OVERFLOW = 0


def make_engine(
    url: str, *, echo: bool = False, pool_size: int = POOL_SIZE, max_overflow: int = POOL_OVERFLOW
) -> AsyncEngine:
    url = async_url(url)
    # hide_parameters: a statement's parameters (identity numbers, among others) never appear
    # in an error's message, so never in a logged traceback.
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": 30}, hide_parameters=True
        )
        _serialise_sqlite_writes(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
        hide_parameters=True,
    )
    _replace_closed_connections(engine)
    return engine


def _replace_closed_connections(engine: AsyncEngine) -> None:
    """Instead of pool_pre_ping on every checkout (BEGIN, a ping, ROLLBACK on asyncpg: three
    round trips a request; README: performance): a connection whose socket the server closed
    is already marked closed by asyncpg, and DisconnectionError makes the pool take another."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed this pooled connection")


def _serialise_sqlite_writes(engine: AsyncEngine) -> None:
    """SQLite: WAL, foreign keys on, and BEGIN IMMEDIATE so that a read-then-write transaction
    (a cap check, an idempotency key) holds the write lock from its first statement instead of
    failing on upgrade."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = POOL_SIZE) -> None:
        self.url = async_url(url)
        self.engine = make_engine(self.url, echo=echo, pool_size=pool_size)
        self.sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, autoflush=False
        )
        # Postgres: no BEGIN and COMMIT around what only reads (two of a one-query request's
        # three round trips; README: performance). Under READ COMMITTED each statement takes
        # its own snapshot inside a transaction too, so a reader sees the same data either
        # way. SQLite keeps its transactions: its BEGIN IMMEDIATE hook assumes them.
        self.reading_engine = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.sessions() as session:
        try:
            yield session
        except BaseException as exc:
            try:
                await session.rollback()
            except Exception as failed:
                # The connection is gone (the transaction died with it); closing the session
                # discards it. The request's own error is the one to answer with.
                if not is_database_unavailable(failed):
                    raise
            if isinstance(exc, Exception) and is_database_unavailable(exc):
                raise DatabaseUnavailable() from None
            raise
        else:
            try:
                await session.commit()
            except IntegrityError as exc:
                raise Conflict(f"the change conflicts with stored data: {exc.orig}") from None
            except Exception as exc:
                if is_database_unavailable(exc):
                    raise DatabaseUnavailable(
                        "the database connection was lost while committing: the change may or "
                        "may not be stored; retry with the same Idempotency-Key"
                    ) from None
                raise


async def _read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    database: Database = request.app.state.database
    try:
        async with database.reading_engine.connect() as connection:
            yield connection
    except Exception as exc:
        if is_database_unavailable(exc):
            raise DatabaseUnavailable() from None
        raise


# scope="function": the commit happens before the response is sent, so a failed commit is
# answered as an error instead of after a 2xx has already gone out.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
ReadConnectionDep = Annotated[AsyncConnection, Depends(_read_connection, scope="function")]
"""For routes that only read, a connection without an ORM session (its bookkeeping is a tenth
of a cheap read's CPU): each statement commits by itself (Postgres), so a write made through it
would not be undone by a later error. Writers take SessionDep."""
