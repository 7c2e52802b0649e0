"""Reads on Postgres run without a transaction (services.kit.database.ReadConnectionDep), on the
same pool as the writers: a pooled connection that served a read must be transactional again
for the next writer, or a failed write would leave half its changes behind."""

from sqlalchemy import text

from services.kit.database import Database
from tests.databases import postgres_database


async def test_a_connection_that_served_a_read_rolls_a_failed_write_back():
    database = Database(await postgres_database("members", suffix="_reads"))
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE note (body text NOT NULL)"))
        async with database.reading_engine.connect() as reader:
            await reader.execute(text("SELECT 1"))
            read_on = (await reader.get_raw_connection()).driver_connection
            assert not read_on.is_in_transaction()
        async with database.sessions() as session:
            await session.execute(text("INSERT INTO note VALUES ('half of a change')"))
            written_on = (await (await session.connection()).get_raw_connection()).driver_connection
            assert written_on is read_on, "the pool gave another connection: nothing tested"
            assert written_on.is_in_transaction()
            await session.rollback()
        async with database.reading_engine.connect() as reader:
            assert (await reader.execute(text("SELECT count(*) FROM note"))).scalar_one() == 0
    finally:
        await database.dispose()
