"""Test databases on the machine's Postgres: one per service and test process, dropped at
the end of the run. Postgres being absent is a failure, never a skip."""

import asyncio
import os

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

POSTGRES_ADMIN_URL = os.environ.get(
    "MUTUALAID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _worker() -> str:
    """Unique per test process, so that parallel runs on one server never share a database."""
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


_created: list[str] = []


async def _recreate_postgres_database(name: str) -> str:
    try:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required for the test suite ({POSTGRES_ADMIN_URL}): {exc}")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
        _created.append(name)
    finally:
        await connection.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def postgres_database(service: str, suffix: str = "") -> str:
    return await _recreate_postgres_database(f"mutualaid_test_{service}{suffix}_{_worker()}")


async def drop_created_databases() -> None:
    if not _created:
        return
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        for name in _created:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
    _created.clear()


async def wipe(app: FastAPI) -> None:
    """Empty every table but the migration history, so each test starts from nothing. The
    claims app's webhook worker may be reading the outbox meanwhile: a TRUNCATE that
    deadlocks with it (Postgres aborts one of the two) is tried again."""
    for attempt in range(5):
        try:
            return await _wipe_once(app)
        except DBAPIError as error:
            if "deadlock detected" not in str(error) or attempt == 4:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))


async def _wipe_once(app: FastAPI) -> None:
    database = app.state.database
    tables = [t.name for t in app.state.metadata.sorted_tables]
    async with database.engine.begin() as connection:
        if database.is_sqlite:
            for name in reversed(tables):
                await connection.execute(text(f'DELETE FROM "{name}"'))
        else:
            quoted = ", ".join(f'"{name}"' for name in tables)
            await connection.execute(text(f"TRUNCATE {quoted} CASCADE"))
