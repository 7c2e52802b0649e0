"""The schema only ever comes from Alembic: each history upgrades from empty to head, comes
all the way down again, and goes back up, on SQLite and on Postgres; and head matches the
models, so no change to a table was left without its migration."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.kit.database import make_engine
from services.kit.migrate import downgrade, upgrade
from tests.databases import postgres_database


def _metadata(service: str):
    if service == "members":
        from members_api.models import metadata
    else:
        from claims_api.models import metadata
    return metadata


async def _url(backend: str, service: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / f'{service}-migrations.db'}"
    return await postgres_database(service, suffix="_migrations")


def _tables(connection) -> set[str]:
    return set(inspect(connection).get_table_names())


@pytest.mark.parametrize("service", ["members", "claims"])
async def test_history_goes_up_down_and_up_again(backend: str, service: str, tmp_path: Path):
    engine = make_engine(await _url(backend, service, tmp_path))
    expected = set(_metadata(service).tables)
    version_table = f"{service}_alembic_version"
    try:
        await upgrade(engine, service)
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == expected | {version_table}
        await downgrade(engine, service, "base")
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == {version_table}
        await upgrade(engine, service)
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == expected | {version_table}
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": False}),
                    _metadata(service),
                )
            )
        unexplained = [
            diff
            for diff in differences
            if not (diff[0] == "remove_table" and diff[1].name == version_table)
        ]
        assert unexplained == []
    finally:
        await engine.dispose()
