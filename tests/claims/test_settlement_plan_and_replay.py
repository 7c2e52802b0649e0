"""What an import knows before it reads its file: the plan (unknown, of the wrong kind, or its
rules changed while the file was looked up), and an Idempotency-Key already answered, which
is replayed, in the form asked for, without the file being read or the registry asked."""

import csv
import io

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from claims_api.members_client import MembersClient
from tests.claims.support_claims import CLAIMS, day, listed, new_plan, new_unit, problem
from tests.claims.support_settlement import CHINESE, person, send, settlement_csv, stay
from tests.support import ADMIN

HEADER_ONLY = (",".join(CHINESE) + "\n").encode()


async def test_a_file_for_an_unknown_plan_is_404_even_with_no_rows(api):
    response = await send(api, "NOPE-2026", HEADER_ONLY)
    problem(response, 404)
    assert "NOPE-2026" in response.json()["detail"]


async def test_a_fixed_benefit_plan_is_refused_even_with_no_rows(api):
    plan = await new_plan(api, "fixed_benefit")
    problem(await send(api, plan, HEADER_ONLY), 422, "settlement_plan_kind")


async def test_a_file_of_no_rows_for_a_hospital_plan_files_nothing(api):
    plan = await new_plan(api)
    response = await send(api, plan, HEADER_ONLY)
    assert response.status_code == 200, response.text
    assert response.json()["totals"]["rows"] == 0
    assert response.json()["results"] == []


class _Registry(httpx.AsyncBaseTransport):
    """The registry app itself; `on_lookup` runs after each coverage look-up it answers."""

    def __init__(self, members_app: FastAPI, on_lookup=None) -> None:
        self.registry = httpx.ASGITransport(app=members_app)
        self.on_lookup = on_lookup
        self.lookups = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.registry.handle_async_request(request)
        if request.url.path == "/api/v1/coverage/lookup":
            self.lookups += 1
            if self.on_lookup is not None:
                await self.on_lookup(self.lookups)
        return response


async def _import_through(
    claims_app: FastAPI, transport: httpx.AsyncBaseTransport, *args, **kwargs
) -> httpx.Response:
    """`send(*args, **kwargs)` with the claims service reaching the registry through
    `transport`, two people per look-up."""
    settings = claims_app.state.settings
    kept_client, kept_chunk = claims_app.state.members_client, settings.settlement_lookup_chunk
    claims_app.state.members_client = MembersClient(
        httpx.AsyncClient(transport=transport, base_url="http://members")
    )
    settings.settlement_lookup_chunk = 2
    try:
        return await send(*args, **kwargs)
    finally:
        await claims_app.state.members_client.close()
        claims_app.state.members_client, settings.settlement_lookup_chunk = kept_client, kept_chunk


async def test_the_plans_rules_changed_between_two_look_ups_is_409_and_nothing_stored(
    api, claims_app: FastAPI, members_app: FastAPI
):
    unit, plan = await new_unit(api), await new_plan(api)
    workers = [await person(api, unit, plan) for _ in range(3)]
    content = settlement_csv([stay(worker, day(3, 1)) for worker in workers])

    async def rules_change_after_the_plan_is_read(lookups: int) -> None:
        if lookups == 1:  # the plan's call: the people's calls read the rules changed
            async with members_app.state.database.engine.begin() as connection:
                await connection.execute(
                    text("UPDATE plan SET rules_version = 'corrected000000' WHERE code = :c"),
                    {"c": plan},
                )

    transport = _Registry(members_app, rules_change_after_the_plan_is_read)
    response = await _import_through(claims_app, transport, api, plan, content)
    problem(response, 409, "plan_changed")
    assert transport.lookups >= 2
    assert await listed(api, CLAIMS, plan_code=plan) == []


async def test_an_answered_key_is_replayed_as_a_sheet_without_asking_the_registry(
    api, claims_app: FastAPI, members_app: FastAPI
):
    unit, plan = await new_unit(api), await new_plan(api)
    worker = await person(api, unit, plan)
    content = settlement_csv([stay(worker, day(3, 1))])
    headers = {**ADMIN, "Idempotency-Key": "settlement-replay-sheet"}
    first = await send(api, plan, content, headers=headers)
    assert first.status_code == 200, first.text
    claim_id = first.json()["results"][0]["claim_id"]

    transport = _Registry(members_app)
    again = await _import_through(
        claims_app, transport, api, plan, content, headers=headers, params={"format": "csv"}
    )
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(again.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["行号", "结算单号", "结果"]
    assert claim_id in rows[1]
    assert transport.lookups == 0  # neither the plan nor the people asked again
    assert len(await listed(api, CLAIMS, plan_code=plan)) == 1


async def test_a_key_reused_for_another_file_is_422_before_the_file_is_read(api):
    unit, plan = await new_unit(api), await new_plan(api)
    worker = await person(api, unit, plan)
    headers = {**ADMIN, "Idempotency-Key": "settlement-other-file"}
    first = await send(api, plan, settlement_csv([stay(worker, day(3, 1))]), headers=headers)
    assert first.status_code == 200, first.text
    other = await send(api, plan, settlement_csv([stay(worker, day(4, 1))]), headers=headers)
    problem(other, 422)
    assert "Idempotency-Key" in other.text


async def test_no_lock_is_held_while_the_file_is_looked_up(
    api, claims_app: FastAPI, members_app: FastAPI
):
    """With an Idempotency-Key (looked up first), the claims database takes another writer
    while the import asks the registry: on SQLite a transaction begun for the key's read
    would hold the database's write lock through the parsing and the look-ups."""
    unit, plan = await new_unit(api), await new_plan(api)
    workers = [await person(api, unit, plan) for _ in range(3)]
    content = settlement_csv([stay(worker, day(3, 1)) for worker in workers])
    written = []

    async def another_writer(lookups: int) -> None:
        if lookups == 2:
            async with claims_app.state.database.engine.begin() as connection:
                if claims_app.state.database.is_sqlite:
                    await connection.exec_driver_sql("PRAGMA busy_timeout=2000")
                await connection.execute(text("DELETE FROM idempotency_record WHERE key = 'none'"))
            written.append(lookups)

    transport = _Registry(members_app, another_writer)
    headers = {**ADMIN, "Idempotency-Key": "settlement-no-lock"}
    response = await _import_through(claims_app, transport, api, plan, content, headers=headers)
    assert response.status_code == 200, response.text
    assert written == [2]
    assert response.json()["totals"]["filed"] == 3
