"""Run a service's Alembic history: the only source of its schema."""

import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(service: str, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS / service))
    config.attributes["service"] = service
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_on(connection: Connection, service: str, revision: str = "head") -> None:
    if connection.dialect.name == "postgresql":
        # Replicas starting together: one migrates, the others wait and then find nothing to do.
        lock_key = zlib.crc32(f"mutualaid-migrate-{service}".encode())
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
    command.upgrade(alembic_config(service, connection), revision)


def downgrade_on(connection: Connection, service: str, revision: str) -> None:
    command.downgrade(alembic_config(service, connection), revision)


async def upgrade(engine: AsyncEngine, service: str, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(upgrade_on, service, revision)


async def downgrade(engine: AsyncEngine, service: str, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(downgrade_on, service, revision)


def autogenerate_on(connection: Connection, service: str, message: str) -> None:
    """For developers: draft a revision from the models; read and run it before committing."""
    command.revision(alembic_config(service, connection), message=message, autogenerate=True)
