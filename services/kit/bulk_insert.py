"""Many rows into one table at once, in the request's transaction: what the bulk imports of
both services write with (the registry's enrolment import, the claims service's settlement
import)."""

from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import Dialect, Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

CHUNK = 5_000
"""Rows per executemany (SQLite): well under its parameter limit, few round trips."""


class BulkInsert:
    """Many rows into one table, in the request's transaction.

    Postgres: COPY (asyncpg's copy_records_to_table), measured about twice as fast as
    executemany for 100,000 rows; the values go through the columns' SQLAlchemy types first
    (`prepare`, pure: it runs in a worker thread, off the event loop). Elsewhere (SQLite): one
    executemany per chunk. A unique or foreign key violation is an IntegrityError either way.
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        dialect: Dialect,
        converted: Sequence[str] = (),
    ) -> None:
        """`converted`: columns whose values the caller gives in the driver's form already on
        Postgres (JSON text made once for a value many rows share)."""
        self.table, self.columns = table, list(columns)
        self.copy = dialect.name == "postgresql"
        processors = [
            (index, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for index, name in enumerate(columns)
            if not (self.copy and name in converted)
        ]
        self.processors = [(index, p) for index, p in processors if p is not None]

    def prepare(self, records: list[tuple[Any, ...]]) -> list[Any]:
        if not self.copy:
            return [dict(zip(self.columns, record, strict=True)) for record in records]
        if not self.processors or not records:
            return records
        # Column by column: bulk rows repeat their values (one timestamp, a few amounts), so
        # each distinct value is converted once.
        columns: list[Any] = list(zip(*records, strict=True))
        for index, process in self.processors:
            column = columns[index]
            try:
                converted = {value: process(value) for value in set(column)}
                columns[index] = [converted[value] for value in column]
            except TypeError:  # an unhashable value
                columns[index] = [process(value) for value in column]
        return list(zip(*columns, strict=True))

    async def write(self, session: AsyncSession, prepared: list[Any]) -> None:
        if not prepared:
            return
        if not self.copy:
            for start in range(0, len(prepared), CHUNK):
                await session.execute(insert(self.table), prepared[start : start + CHUNK])
            return
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        if driver is None or not driver.is_in_transaction():
            # The queries before began the request's transaction; COPY never autocommits.
            raise RuntimeError("bulk insert outside the request's transaction")
        try:
            await driver.copy_records_to_table(
                self.table.name, records=prepared, columns=self.columns
            )
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(f"COPY {self.table.name}", None, exc) from exc
