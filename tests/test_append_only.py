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
