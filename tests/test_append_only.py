"""On Postgres the audit log, the claim history and the payout ledger refuse UPDATE and
DELETE at the database level: history cannot be rewritten, even by hand. (The guarantee is
Postgres's: SQLite is the zero-set-up demonstration store.)"""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.support import ADMIN

APPEND_ONLY = {
    "members": ["audit_event", "contribution", "contribution_allocation"],
    "claims": ["audit_event", "claim_event", "payout_entry"],
}


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize("statement", ["UPDATE {table} SET id = id", "DELETE FROM {table}"])
async def test_history_tables_refuse_changes_on_postgres(api, members_app, claims_app, statement):
    created = await api.post("/api/v1/units", json={"name": "A"}, headers=ADMIN)
    assert created.status_code == 201
    for app, service in ((members_app, "members"), (claims_app, "claims")):
        for table in APPEND_ONLY[service]:
            async with app.state.database.engine.connect() as connection:
                with pytest.raises(DBAPIError, match="append-only"):
                    await connection.execute(text(statement.format(table=table)))
                await connection.rollback()
    async with members_app.state.database.engine.connect() as connection:
        kept = await connection.execute(text("SELECT count(*) FROM audit_event"))
        assert kept.scalar() == 1


async def test_audit_log_lists_a_change_with_actor_and_request_id(api):
    created = await api.post(
        "/api/v1/units", json={"name": "A"}, headers={**ADMIN, "X-Request-ID": "req-audit-1"}
    )
    unit_id = created.json()["id"]
    events = await api.get(
        "/api/v1/audit-events", params={"entity": "unit", "entity_id": unit_id}, headers=ADMIN
    )
    assert events.status_code == 200, events.text
    [event] = events.json()["items"]
    assert event["action"] == "unit.create"
    assert event["actor"] == "admin:local" and event["role"] == "admin"
    assert event["request_id"] == "req-audit-1"
    assert event["after"]["name"] == "A"


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_the_ledger_takes_the_banks_answer_once_and_nothing_else(api, claims_app):
    """The one change a payout entry accepts: bank_status from sent to settled or returned
    (with its reason and time), once; any other column, or a second answer, is refused."""
    from tests.claims.support_claims import approved_claim, day, enrolled_member, hospital_stay, pay

    worker = await enrolled_member(api)
    claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
    response = await pay(api, [claim["id"]])
    assert response.status_code == 201, response.text
    [entry] = response.json()["entries"]
    where = f"WHERE id = '{entry['id']}'"

    async def run(statement: str) -> None:
        async with claims_app.state.database.engine.begin() as connection:
            await connection.execute(text(statement))

    for refused in (
        f"UPDATE payout_entry SET amount = 1 {where}",
        f"UPDATE payout_entry SET account_number = '6222020000000000000' {where}",
        f"UPDATE payout_entry SET bank_status = 'sent', bank_reason = 'x' {where}",
        f"UPDATE payout_entry SET bank_status = 'lost' {where}",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            await run(refused)
    await run(f"UPDATE payout_entry SET bank_status = 'settled', bank_status_at = now() {where}")
    with pytest.raises(DBAPIError, match="append-only"):
        await run(f"UPDATE payout_entry SET bank_status = 'returned' {where}")
    async with claims_app.state.database.engine.connect() as connection:
        status = await connection.execute(text(f"SELECT bank_status FROM payout_entry {where}"))
        assert status.scalar() == "settled"
