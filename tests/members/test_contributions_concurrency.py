"""Payments, enrolments, imports and reversals for one unit and plan at the same time never
give the same yuan twice, never pay an enrolment past its due, and never leave credit beside
an unpaid enrolment: allocations add up to payments less credit, to the fen.

On Postgres the requests run truly in parallel (the unit's credit row lock decides the
order); SQLite serialises writers (BEGIN IMMEDIATE); the outcome must balance on both."""

import asyncio
from decimal import Decimal
from typing import Any

from tests.members.bulk_support import bulk_national_ids, csv_bytes
from tests.members.test_contributions import (
    balanced,
    enrolled,
    paid,
    pay,
    plan,
    reverse,
)
from tests.support import ADMIN, enrol, new_member, new_unit


async def _later(seconds: float, work: Any) -> Any:
    await asyncio.sleep(seconds)
    return await work


async def test_payments_at_once_share_the_unpaid_enrolments_to_the_fen(members, members_app):
    unit, code = await new_unit(members), await plan(members)
    enrolments = [(await enrolled(members, unit, code))["id"] for _ in range(10)]  # 360.00

    responses = await asyncio.gather(*(pay(members, unit, code, "50.00") for _ in range(8)))

    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    given: dict[str, Decimal] = {}
    for response in responses:
        for allocation in response.json()["allocations"]:
            enrollment_id = allocation["enrollment_id"]
            given[enrollment_id] = given.get(enrollment_id, Decimal(0)) + Decimal(
                allocation["amount"]
            )
    assert given == {enrollment_id: Decimal("36.00") for enrollment_id in enrolments}
    assert await balanced(members_app, unit, code) == Decimal("40.00")


async def test_payments_during_an_import_never_give_a_yuan_twice(members, members_app):
    unit, code = await new_unit(members), await plan(members)
    before = [(await enrolled(members, unit, code, shares=2))["id"] for _ in range(3)]  # 216.00
    mistaken = await paid(members, unit, code, "100.00")
    rows = [
        {"national_id": number, "name": "职工", "shares": 1}
        for number in bulk_national_ids(1_500, start=80_000)
    ]
    upload = csv_bytes(
        ["身份证号", "姓名", "份数"],
        [[number, "职工", 1] for number in bulk_national_ids(1_500, start=82_000)],
    )
    singles = [await new_member(members, unit) for _ in range(3)]

    work = [
        members.post(
            "/api/v1/enrollments/batch",
            json={"unit_id": unit, "plan_code": code, "rows": rows},
            headers=ADMIN,
        ),
        _later(
            0.02,
            members.post(
                "/api/v1/enrollments/import",
                data={"unit_id": unit, "plan_code": code},
                files={"file": ("名单.csv", upload, "text/csv")},
                headers=ADMIN,
            ),
        ),
        *(_later(0.01 * n, pay(members, unit, code, "20000.00")) for n in range(6)),
        *(_later(0.015 * n, pay(members, unit, code, "3333.33")) for n in range(3)),
        _later(0.03, reverse(members, mistaken["id"])),
        *(_later(0.01 * n, enrol(members, member, code)) for n, member in enumerate(singles)),
    ]
    responses = await asyncio.gather(*work)

    assert [r.status_code for r in responses] == [200, 200] + [201] * 13, [
        r.text[:300] for r in responses if r.status_code >= 300
    ]
    # 3 x 72.00 + 3,003 x 36.00 = 108,324.00 due; 129,999.99 paid (the 100.00 reversed)
    credit = await balanced(members_app, unit, code)
    assert credit == Decimal("129999.99") - Decimal("108324.00")
    enrolments = await _all_enrolments(members, unit, code)
    assert len(enrolments) == 3 + 3_003
    assert all(e["paid"] and e["owed"] == "0.00" for e in enrolments)
    assert {e["id"] for e in enrolments} >= set(before)


async def _all_enrolments(client: Any, unit_id: str, plan_code: str) -> list[dict]:
    found, cursor = [], None
    while True:
        params = {"unit_id": unit_id, "plan_code": plan_code, "limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/enrollments", params=params, headers=ADMIN)).json()
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def test_credit_and_enrolments_made_at_once_pay_each_enrolment_once(members, members_app):
    """Credit enough for four of ten enrolments made at the same time: four are paid."""
    unit, code = await new_unit(members), await plan(members)
    await paid(members, unit, code, "144.00")
    workers = [await new_member(members, unit) for _ in range(10)]

    responses = await asyncio.gather(*(enrol(members, worker, code) for worker in workers))

    assert [r.status_code for r in responses] == [201] * 10
    assert sorted(r.json()["paid"] for r in responses) == [False] * 6 + [True] * 4
    assert await balanced(members_app, unit, code) == Decimal("0.00")
