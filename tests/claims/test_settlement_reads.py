"""A settlement import's bulk reads (claims_api.claims.repository: filed_numbers, usage_of,
live_stays) have Postgres plan each chunk's query with its values, and leave the transaction
planning as before: the foreign key checks of the rows the import writes next keep their
plans (planned again for every row, they made writing those rows two to three times slower)."""

import pytest
from sqlalchemy import text

from claims_api.claims import repository


@pytest.mark.only(backend="postgres")
async def test_the_bulk_reads_leave_the_planning_as_it_was(claims_app) -> None:
    async with claims_app.state.database.sessions() as session:
        before = (await session.execute(text("SHOW plan_cache_mode"))).scalar_one()
        assert (await repository.filed_numbers(session, "PLAN-2026", ["JS1"])) == {}
        assert (await repository.usage_of(session, ["enr_1"])) == {}
        assert (await repository.live_stays(session, "PLAN-2026", ["mem_1"])) == {}
        assert (await session.execute(text("SHOW plan_cache_mode"))).scalar_one() == before
