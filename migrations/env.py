"""Shared Alembic environment: each service's env.py calls `run(metadata)`.

Migrations always run on a connection handed in by services.kit.migrate (from the app's own
async engine), so the same code serves SQLite and Postgres, at start-up and in tests."""

from alembic import context
from sqlalchemy import MetaData


def run(metadata: MetaData) -> None:
    config = context.config
    service = config.attributes["service"]
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `mutualaid migrate` or services.kit.migrate")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=f"{service}_alembic_version",
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
