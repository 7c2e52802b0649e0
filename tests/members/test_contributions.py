"""Payments (缴费): allocated to the unit's unpaid enrolments oldest first, to the fen; the rest
is the unit's credit, which pays its next enrolments (single and bulk); a reversal undoes a
payment wherever its money went; cancelling before cover returns the allocation to credit."""

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.kit.clock import today
from tests.dates import COVER_START, NEXT_COVER_START
from tests.members.bulk_support import bulk_national_ids
from tests.support import (
    ADMIN,
    AUDITOR,
    FINANCE,
    bearer,
    enrol,
    new_member,
    new_plan,
    new_unit,
)

TODAY = today()
CONTRIBUTIONS = "/api/v1/contributions"
_references = itertools.count(1)
_plans = itertools.count(1)


def reference() -> str:
    return f"BANK-{next(_references):06d}"


async def plan(client: Any, **overrides: Any) -> str:
    code = f"PAY{next(_plans)}-{TODAY.year}"
    return (await new_plan(client, code, **overrides))["code"]


async def pay(
    client: Any,
    unit_id: str,
    plan_code: str,
    amount: str,
    *,
    ref: str | None = None,
    paid_on: Any = None,
    headers: Any = None,
    **extra: Any,
) -> Any:
    body = {
        "unit_id": unit_id,
        "plan_code": plan_code,
        "amount": amount,
        "paid_on": str(paid_on or TODAY),
        "reference": ref or reference(),
        "method": "bank_transfer",
        **extra,
    }
    return await client.post(CONTRIBUTIONS, json=body, headers=headers or FINANCE)


async def paid(client: Any, unit_id: str, plan_code: str, amount: str, **kwargs: Any) -> dict:
    response = await pay(client, unit_id, plan_code, amount, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


async def enrolled(client: Any, unit_id: str, plan_code: str, shares: int = 1) -> dict:
    member = await new_member(client, unit_id)
    response = await enrol(client, member, plan_code, shares)
    assert response.status_code == 201, response.text
    return response.json()


async def enrolment(client: Any, enrollment_id: str) -> dict:
    response = await client.get(f"/api/v1/enrollments/{enrollment_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


async def state(client: Any, enrollment_id: str) -> tuple[str, str, bool, str | None]:
    """(contribution_paid, owed, paid, paid_on) of an enrolment, as the API shows it."""
    e = await enrolment(client, enrollment_id)
    return e["contribution_paid"], e["owed"], e["paid"], e["paid_on"]


async def reverse(client: Any, contribution_id: str, headers: Any = None, **body: Any) -> Any:
    return await client.post(
        f"{CONTRIBUTIONS}/{contribution_id}/reversal",
        json={"reason": "wrong unit", **body},
        headers=headers or FINANCE,
    )


def given(payment: dict) -> list[tuple[str, str, bool]]:
    """Its allocation: (enrollment_id, amount, now paid) in the answer's order."""
    return [(a["enrollment_id"], a["amount"], a["paid"]) for a in payment["allocations"]]


def problem(response: Any, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    if code is not None:
        assert body["code"] == code, body
    return body


class TestAllocation:
    async def test_a_new_enrolment_owes_its_due_and_is_unpaid(self, members):
        unit, code = await new_unit(members), await plan(members)
        e = await enrolled(members, unit, code, shares=2)
        assert (e["contribution_due"], e["contribution_paid"], e["owed"]) == (
            "72.00",
            "0.00",
            "72.00",
        )
        assert (e["paid"], e["paid_on"]) == (False, None)

    async def test_partial_then_exact_payments_pay_the_oldest_enrolments_first(self, members):
        unit, code = await new_unit(members), await plan(members)
        first = (await enrolled(members, unit, code, shares=1))["id"]  # 36.00
        second = (await enrolled(members, unit, code, shares=2))["id"]  # 72.00
        third = (await enrolled(members, unit, code, shares=1))["id"]  # 36.00
        paid_on = TODAY - timedelta(days=3)

        payment = await paid(members, unit, code, "50.01", paid_on=paid_on)

        assert given(payment) == [(first, "36.00", True), (second, "14.01", False)]
        assert (payment["amount"], payment["allocated"], payment["credit"]) == (
            "50.01",
            "50.01",
            "0.00",
        )
        assert await state(members, first) == ("36.00", "0.00", True, str(paid_on))
        assert await state(members, second) == ("14.01", "57.99", False, None)
        assert await state(members, third) == ("0.00", "36.00", False, None)

        # exactly what is still owed: the second is completed by this payment, dated today
        rest = await paid(members, unit, code, "93.99")
        assert given(rest) == [(second, "57.99", True), (third, "36.00", True)]
        assert rest["credit"] == "0.00"
        assert await state(members, second) == ("72.00", "0.00", True, str(TODAY))
        assert await state(members, first) == ("36.00", "0.00", True, str(paid_on))

    async def test_an_over_payment_is_the_units_credit_for_the_plan_only(self, members):
        unit, other_unit = await new_unit(members), await new_unit(members, "乙")
        code, other_plan = await plan(members), await plan(members)
        only = (await enrolled(members, unit, code))["id"]
        elsewhere = (await enrolled(members, other_unit, code))["id"]
        other_plans = (await enrolled(members, unit, other_plan))["id"]

        payment = await paid(members, unit, code, "100.00")

        assert given(payment) == [(only, "36.00", True)]
        assert payment["credit"] == "64.00"
        assert (await state(members, elsewhere))[2] is False
        assert (await state(members, other_plans))[2] is False

    async def test_a_cancelled_enrolment_is_not_paid(self, members):
        unit = await new_unit(members)
        code = await plan(members, **_next_year())
        cancelled = (await enrolled(members, unit, code))["id"]
        kept = (await enrolled(members, unit, code))["id"]
        response = await members.post(f"/api/v1/enrollments/{cancelled}/cancel", headers=ADMIN)
        assert response.status_code == 200, response.text

        payment = await paid(members, unit, code, "36.00")

        assert given(payment) == [(kept, "36.00", True)]


class TestCredit:
    async def test_credit_pays_the_next_enrolments_as_they_are_made(self, members):
        unit, code = await new_unit(members), await plan(members)
        paid_on = TODAY - timedelta(days=5)
        payment = await paid(members, unit, code, "100.00", paid_on=paid_on)
        assert (payment["allocations"], payment["credit"]) == ([], "100.00")

        two_shares = await enrolled(members, unit, code, shares=2)
        assert (two_shares["contribution_paid"], two_shares["owed"]) == ("72.00", "0.00")
        # paid with money that arrived on paid_on: that payment completed it
        assert (two_shares["paid"], two_shares["paid_on"]) == (True, str(paid_on))

        partly = await enrolled(members, unit, code, shares=1)
        assert (partly["contribution_paid"], partly["owed"], partly["paid"]) == (
            "28.00",
            "8.00",
            False,
        )
        after = (await members.get(f"{CONTRIBUTIONS}/{payment['id']}", headers=FINANCE)).json()
        assert given(after) == [(two_shares["id"], "72.00", True), (partly["id"], "28.00", False)]
        assert (after["allocated"], after["credit"]) == ("100.00", "0.00")

        # the next payment completes the partly paid one first
        nxt = await paid(members, unit, code, "10.00")
        assert given(nxt) == [(partly["id"], "8.00", True)]
        assert nxt["credit"] == "2.00"

    async def test_credit_pays_a_bulk_import_row_by_row_to_the_fen(self, members):
        unit, code = await new_unit(members), await plan(members)
        await paid(members, unit, code, "80.00")  # two shares' worth and 8.00 over
        rows = [
            {"national_id": number, "name": "职工", "shares": 1}
            for number in bulk_national_ids(4, start=70_000)
        ]
        body = {"unit_id": unit, "plan_code": code, "rows": rows}

        response = await members.post("/api/v1/enrollments/batch", json=body, headers=ADMIN)

        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["contributions"] == {
            "paid_in_full": 2,
            "allocated": "80.00",
            "credit": "0.00",
        }
        ids = [result["enrollment_id"] for result in answer["results"]]
        states = [await state(members, enrollment_id) for enrollment_id in ids]
        assert [s[:3] for s in states] == [
            ("36.00", "0.00", True),
            ("36.00", "0.00", True),
            ("8.00", "28.00", False),
            ("0.00", "36.00", False),
        ]
        # then a payment finishes the rows the credit did not: the oldest first
        rest = await paid(members, unit, code, "64.00")
        assert given(rest) == [(ids[2], "28.00", True), (ids[3], "36.00", True)]

    async def test_in_a_batch_each_yuan_of_credit_names_the_payment_it_came_from(
        self, members, members_app
    ):
        unit, code = await new_unit(members), await plan(members)
        first = await paid(members, unit, code, "50.00", paid_on=TODAY - timedelta(days=6))
        second = await paid(members, unit, code, "40.00", paid_on=TODAY - timedelta(days=2))
        numbers = bulk_national_ids(3, start=72_000)
        rows = [
            {"national_id": numbers[0], "name": "职工", "shares": 1},
            {"national_id": "123", "name": "错号", "shares": 1},  # a row error
            {"national_id": numbers[1], "name": "职工", "shares": 1},
            {"national_id": numbers[2], "name": "职工", "shares": 1},
        ]
        body = {"unit_id": unit, "plan_code": code, "rows": rows}

        response = await members.post("/api/v1/enrollments/batch", json=body, headers=ADMIN)

        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["ok", "error", "ok", "ok"]
        one, _, two, three = (r.get("enrollment_id") for r in results)
        by_first = await members.get(f"{CONTRIBUTIONS}/{first['id']}", headers=FINANCE)
        by_second = await members.get(f"{CONTRIBUTIONS}/{second['id']}", headers=FINANCE)
        # the older payment's money first; the second row is paid from both
        assert given(by_first.json()) == [(one, "36.00", True), (two, "14.00", True)]
        assert given(by_second.json()) == [(two, "22.00", True), (three, "18.00", False)]
        assert await state(members, two) == ("36.00", "0.00", True, str(TODAY - timedelta(days=2)))
        assert await state(members, one) == ("36.00", "0.00", True, str(TODAY - timedelta(days=6)))
        assert await balanced(members_app, unit, code) == Decimal("0.00")
        # reversing the first takes back exactly its 50.00 from the two it paid
        reversal = (await reverse(members, first["id"])).json()
        assert sorted(given(reversal)) == sorted([(one, "-36.00", False), (two, "-14.00", False)])
        assert await state(members, two) == ("22.00", "14.00", False, None)
        await balanced(members_app, unit, code)

    async def test_a_bulk_import_into_a_unit_without_credit_leaves_every_row_owing(self, members):
        unit, code = await new_unit(members), await plan(members)
        rows = [
            {"national_id": number, "name": "职工", "shares": 2}
            for number in bulk_national_ids(2, start=71_000)
        ]
        body = {"unit_id": unit, "plan_code": code, "rows": rows}
        response = await members.post("/api/v1/enrollments/batch", json=body, headers=ADMIN)
        assert response.status_code == 200, response.text
        assert response.json()["contributions"] == {
            "paid_in_full": 0,
            "allocated": "0.00",
            "credit": "0.00",
        }
        for result in response.json()["results"]:
            assert await state(members, result["enrollment_id"]) == ("0.00", "72.00", False, None)

    async def test_an_enrolment_owing_nothing_is_paid_when_made(self, members):
        unit, code = await new_unit(members), await plan(members, contribution_per_share="0")
        e = await enrolled(members, unit, code)
        assert (e["owed"], e["paid"], e["paid_on"]) == ("0.00", True, e["enrolled_on"])


def _next_year() -> dict[str, str]:
    """A plan whose cover has not started: its enrolments can still be cancelled."""
    end = NEXT_COVER_START.replace(year=NEXT_COVER_START.year + 1) - timedelta(days=1)
    return {"coverage_start": str(NEXT_COVER_START), "coverage_end": str(end)}


class TestReversal:
    async def test_a_reversal_takes_back_what_the_payment_gave_and_its_credit(self, members):
        unit, code = await new_unit(members), await plan(members)
        first = (await enrolled(members, unit, code))["id"]
        second = (await enrolled(members, unit, code))["id"]
        payment = await paid(members, unit, code, "100.00")
        assert payment["credit"] == "28.00"

        response = await reverse(members, payment["id"])

        assert response.status_code == 201, response.text
        reversal = response.json()
        assert (reversal["amount"], reversal["reverses_id"], reversal["reference"]) == (
            "-100.00",
            payment["id"],
            None,
        )
        # latest enrolment first; both owe their whole due again
        assert given(reversal) == [(second, "-36.00", False), (first, "-36.00", False)]
        assert (reversal["allocated"], reversal["credit"]) == ("-72.00", "0.00")
        for enrollment_id in (first, second):
            assert await state(members, enrollment_id) == ("0.00", "36.00", False, None)
        original = await members.get(f"{CONTRIBUTIONS}/{payment['id']}", headers=AUDITOR)
        assert original.json()["reversed_by"] == reversal["id"]
        # a new payment is allocated afresh
        again = await paid(members, unit, code, "36.00")
        assert given(again) == [(first, "36.00", True)]

    async def test_credit_already_spent_by_later_enrolments_is_taken_back_from_them(self, members):
        unit, code = await new_unit(members), await plan(members)
        old = (await enrolled(members, unit, code))["id"]
        mistaken = await paid(members, unit, code, "100.00", paid_on=TODAY - timedelta(days=9))
        later = (await enrolled(members, unit, code))["id"]  # 36.00 of the mistaken credit
        other = await paid(members, unit, code, "50.00", paid_on=TODAY - timedelta(days=2))
        assert other["credit"] == "78.00"  # 28.00 left of the mistaken one, and 50.00

        reversal = (await reverse(members, mistaken["id"])).json()

        # (each enrolment's state as it is after the reversal: the old one is paid again)
        assert given(reversal) == [(later, "-36.00", False), (old, "-36.00", True)]
        # the 28.00 of credit left of it went with it; the other payment's 50.00 then pays
        # the enrolments it left unpaid, oldest first
        assert [
            (a["enrollment_id"], a["amount"], a["contribution_id"]) for a in reversal["reallocated"]
        ] == [(old, "36.00", other["id"]), (later, "14.00", other["id"])]
        assert reversal["credit"] == "0.00"
        assert await state(members, old) == (
            "36.00",
            "0.00",
            True,
            str(TODAY - timedelta(days=2)),
        )
        assert await state(members, later) == ("14.00", "22.00", False, None)

    async def test_reversing_twice_is_409_and_a_reversal_is_not_reversed(self, members):
        unit, code = await new_unit(members), await plan(members)
        payment = await paid(members, unit, code, "10.00")
        reversal = await reverse(members, payment["id"], headers=ADMIN)
        assert reversal.status_code == 201, reversal.text

        problem(await reverse(members, payment["id"]), 409, "contribution_reversed")
        problem(await reverse(members, reversal.json()["id"]), 422, "not_a_payment")

    async def test_a_reversal_is_dated_between_the_payment_and_today(self, members):
        unit, code = await new_unit(members), await plan(members)
        payment = await paid(members, unit, code, "10.00", paid_on=TODAY - timedelta(days=4))
        for day in (TODAY + timedelta(days=1), TODAY - timedelta(days=5)):
            body = problem(await reverse(members, payment["id"], reversed_on=str(day)), 422)
            assert body["errors"][0]["loc"] == ["reversed_on"]
        body = problem(await reverse(members, payment["id"], reason=""), 422)
        assert body["errors"][0]["loc"] == ["reason"]
        ok = await reverse(members, payment["id"], reversed_on=str(TODAY - timedelta(days=4)))
        assert ok.status_code == 201, ok.text
        assert ok.json()["paid_on"] == str(TODAY - timedelta(days=4))


class TestCancellation:
    async def test_cancelling_before_cover_returns_the_allocation_to_credit(self, members):
        unit, code = await new_unit(members), await plan(members, **_next_year())
        cancelled = (await enrolled(members, unit, code, shares=2))["id"]
        await paid(members, unit, code, "72.00")
        owing = (await enrolled(members, unit, code))["id"]  # nothing left for it

        response = await members.post(f"/api/v1/enrollments/{cancelled}/cancel", headers=ADMIN)

        assert response.status_code == 200, response.text
        assert (response.json()["contribution_paid"], response.json()["paid"]) == ("0.00", False)
        # the 72.00 returned pays the unit's unpaid enrolment, the rest stays as credit
        assert await state(members, owing) == ("36.00", "0.00", True, str(TODAY))
        payment = await members.get(CONTRIBUTIONS, headers=FINANCE, params={"unit_id": unit})
        [only] = payment.json()["items"]
        detail = (await members.get(f"{CONTRIBUTIONS}/{only['id']}", headers=FINANCE)).json()
        assert given(detail) == [
            (cancelled, "72.00", False),
            (cancelled, "-72.00", False),
            (owing, "36.00", True),
        ]
        assert (detail["allocated"], detail["credit"]) == ("36.00", "36.00")
        events = await members.get(
            "/api/v1/audit-events",
            params={"entity": "enrollment", "entity_id": cancelled},
            headers=ADMIN,
        )
        [cancel] = [e for e in events.json()["items"] if e["action"] == "enrollment.cancel"]
        assert cancel["after"]["returned_to_credit"] == "72.00"

    async def test_once_cover_has_started_the_paid_enrolment_stays_paid(self, members):
        unit, code = await new_unit(members), await plan(members)  # cover started 300 days ago
        member = await new_member(members, unit)
        started = await enrol(members, member, code, starts_on=str(COVER_START))
        assert started.status_code == 201, started.text
        e = started.json()["id"]
        await paid(members, unit, code, "36.00")
        response = await members.post(f"/api/v1/enrollments/{e}/cancel", headers=ADMIN)
        problem(response, 422, "cover_started")
        assert await state(members, e) == ("36.00", "0.00", True, str(TODAY))


class TestRecording:
    async def test_a_reference_is_recorded_once_per_plan(self, members):
        unit, other_unit = await new_unit(members), await new_unit(members, "乙")
        code, other_plan = await plan(members), await plan(members)
        first = await paid(members, unit, code, "10.00", ref="HX-2026-0001")

        again = problem(await pay(members, unit, code, "10.00", ref="HX-2026-0001"), 409)
        assert again["code"] == "reference_exists"
        assert again["contribution_id"] == first["id"]
        # another unit, the same slip; the same slip typed full-width: still the same payment
        problem(await pay(members, other_unit, code, "5.00", ref="HX-2026-0001"), 409)
        fullwidth = "ＨＸ－２０２６－０００１"
        problem(await pay(members, unit, code, "10.00", ref=fullwidth), 409, "reference_exists")
        # nor in small letters, nor with spaces in it
        for spelling in ("hx-2026-0001", "HX-2026 -0001", "hx - 2026 - 0001"):
            problem(await pay(members, unit, code, "10.00", ref=spelling), 409, "reference_exists")
        # another plan's slips are its own
        assert (
            await pay(members, unit, other_plan, "10.00", ref="HX-2026-0001")
        ).status_code == 201
        listed = await members.get(CONTRIBUTIONS, params={"plan_code": code}, headers=FINANCE)
        assert [c["id"] for c in listed.json()["items"]] == [first["id"]]

    async def test_a_retry_with_the_same_idempotency_key_records_one_payment(self, members):
        unit, code = await new_unit(members), await plan(members)
        e = (await enrolled(members, unit, code))["id"]
        body = {"ref": "RETRY-1", "headers": {**FINANCE, "Idempotency-Key": "pay-once"}}
        first = await pay(members, unit, code, "50.00", **body)
        retry = await pay(members, unit, code, "50.00", **body)
        assert (first.status_code, retry.status_code) == (201, 201)
        assert retry.headers.get("idempotent-replayed") == "true"
        assert retry.json() == first.json()
        other = await pay(members, unit, code, "51.00", **body)
        problem(other, 422)
        listed = await members.get(CONTRIBUTIONS, params={"unit_id": unit}, headers=FINANCE)
        assert len(listed.json()["items"]) == 1
        assert await state(members, e) == ("36.00", "0.00", True, str(TODAY))
        assert first.json()["credit"] == "14.00"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("amount", "0"),
            ("amount", "0.00"),
            ("amount", "-5.00"),
            ("amount", "1.001"),
            ("amount", "ten"),
            ("paid_on", str(TODAY + timedelta(days=1))),
            ("paid_on", "2026-02-30"),
            ("reference", ""),
            ("reference", "   "),
            ("reference", "X" * 65),
            ("reference", "A\nB"),
            ("method", "cheque"),
            ("unit_id", "unt bad"),
        ],
    )
    async def test_a_bad_field_is_422_naming_it(self, members, field, value):
        unit, code = await new_unit(members), await plan(members)
        body = {
            "unit_id": unit,
            "plan_code": code,
            "amount": "10.00",
            "paid_on": str(TODAY),
            "reference": reference(),
            "method": "cash",
            field: value,
        }
        body = problem(await members.post(CONTRIBUTIONS, json=body, headers=FINANCE), 422)
        assert [field] in [error["loc"] for error in body["errors"]], body

    async def test_a_payment_dated_more_than_a_year_before_the_cover_is_refused(self, members):
        unit, code = await new_unit(members), await plan(members)
        cover_start = COVER_START
        too_early = cover_start - timedelta(days=367)
        body = problem(await pay(members, unit, code, "1.00", paid_on=too_early), 422)
        assert body["errors"][0]["loc"] == ["paid_on"]
        ok = await pay(members, unit, code, "1.00", paid_on=cover_start - timedelta(days=366))
        assert ok.status_code == 201, ok.text

    async def test_an_unknown_unit_or_plan_is_404(self, members):
        unit, code = await new_unit(members), await plan(members)
        problem(await pay(members, "unt_0000000000000000", code, "1.00"), 404)
        problem(await pay(members, unit, "NOPE-2026", "1.00"), 404)

    async def test_payments_and_reversals_are_in_the_audit_log(self, members):
        unit, code = await new_unit(members), await plan(members)
        await enrolled(members, unit, code)
        payment = await paid(members, unit, code, "40.00", headers=FINANCE)
        await reverse(members, payment["id"], headers=ADMIN)
        events = await members.get(
            "/api/v1/audit-events",
            params={"entity": "contribution", "entity_id": payment["id"]},
            headers=AUDITOR,
        )
        assert events.status_code == 200, events.text
        created, reversed_ = events.json()["items"]
        assert (created["action"], created["role"]) == ("contribution.create", "finance")
        assert created["after"]["amount"] == "40.00"
        assert (created["after"]["allocated"], created["after"]["credit"]) == ("36.00", "4.00")
        assert (reversed_["action"], reversed_["role"]) == ("contribution.reverse", "admin")
        assert reversed_["after"]["reverses_id"] == payment["id"]
        assert reversed_["after"]["reason"] == "wrong unit"


class TestReading:
    async def test_hr_reads_its_own_units_payments_only(self, members):
        unit, other_unit = await new_unit(members), await new_unit(members, "乙")
        code = await plan(members)
        own = await paid(members, unit, code, "10.00")
        others = await paid(members, other_unit, code, "20.00")
        hr = bearer("hr", unit_id=unit)

        listed = (await members.get(CONTRIBUTIONS, headers=hr)).json()["items"]
        assert [c["id"] for c in listed] == [own["id"]]
        asked = await members.get(CONTRIBUTIONS, params={"unit_id": other_unit}, headers=hr)
        assert asked.json()["items"] == []
        assert (await members.get(f"{CONTRIBUTIONS}/{own['id']}", headers=hr)).status_code == 200
        problem(await members.get(f"{CONTRIBUTIONS}/{others['id']}", headers=hr), 404)
        problem(await pay(members, unit, code, "1.00", headers=hr), 403)
        problem(await reverse(members, own["id"], headers=hr), 403)
        problem(await reverse(members, others["id"], headers=hr), 404)

    async def test_the_list_pages_and_filters(self, members):
        unit, code, other_plan = await new_unit(members), await plan(members), await plan(members)
        made = [(await paid(members, unit, code, f"{n}.00"))["id"] for n in range(1, 4)]
        await paid(members, unit, other_plan, "9.00")
        first = await members.get(
            CONTRIBUTIONS, params={"plan_code": code, "limit": 2}, headers=AUDITOR
        )
        page = first.json()
        assert [c["id"] for c in page["items"]] == made[:2]
        rest = await members.get(
            CONTRIBUTIONS,
            params={"plan_code": code, "limit": 2, "cursor": page["next_cursor"]},
            headers=AUDITOR,
        )
        assert [c["id"] for c in rest.json()["items"]] == made[2:]
        assert rest.json()["next_cursor"] is None


async def test_ledger_balances_after_every_kind_of_change(members, members_app):
    """What the tables hold agrees with itself: each enrolment's contribution_paid is the sum
    of its allocations, and the credit is what was paid less what was allocated."""
    unit, code = await new_unit(members), await plan(members, **_next_year())
    a = (await enrolled(members, unit, code, shares=3))["id"]
    payment = await paid(members, unit, code, "150.00")
    await enrolled(members, unit, code, shares=2)
    await members.post(f"/api/v1/enrollments/{a}/cancel", headers=ADMIN)
    second = await paid(members, unit, code, "7.77")
    await reverse(members, payment["id"])
    await enrolled(members, unit, code)
    await reverse(members, second["id"])
    await paid(members, unit, code, "200.01")
    await balanced(members_app, unit, code)


async def balanced(app: Any, unit_id: str, plan_code: str) -> Decimal:
    """Checks the ledger's invariants for a unit and plan in the database; answers the
    credit."""
    from sqlalchemy import text

    async with app.state.database.engine.connect() as connection:

        async def one(sql: str) -> int:
            row = await connection.execute(text(sql), {"u": unit_id, "p": plan_code})
            return int(row.scalar() or 0)

        paid_in = await one(
            "SELECT sum(amount) FROM contribution WHERE unit_id = :u AND plan_code = :p"
        )
        allocated = await one(
            "SELECT sum(a.amount) FROM contribution_allocation a JOIN contribution c "
            "ON c.id = a.contribution_id WHERE c.unit_id = :u AND c.plan_code = :p"
        )
        credit = await one(
            "SELECT credit FROM unit_plan_credit WHERE unit_id = :u AND plan_code = :p"
        )
        assert allocated == paid_in - credit, (paid_in, allocated, credit)
        mismatched = await one(
            "SELECT count(*) FROM enrollment e WHERE e.unit_id = :u AND e.plan_code = :p AND "
            "e.contribution_paid != (SELECT coalesce(sum(a.amount), 0) FROM "
            "contribution_allocation a WHERE a.enrollment_id = e.id)"
        )
        assert mismatched == 0
        over = await one(
            "SELECT count(*) FROM enrollment WHERE unit_id = :u AND plan_code = :p AND "
            "(contribution_paid > contribution_due OR contribution_paid < 0)"
        )
        assert over == 0
        wrong_flag = await one(
            "SELECT count(*) FROM enrollment WHERE unit_id = :u AND plan_code = :p AND "
            "(paid_on IS NULL) = (contribution_paid = contribution_due)"
        )
        assert wrong_flag == 0
        if credit > 0:
            unpaid = await one(
                "SELECT count(*) FROM enrollment WHERE unit_id = :u AND plan_code = :p AND "
                "status = 'active' AND paid_on IS NULL"
            )
            assert unpaid == 0, "credit left beside an unpaid enrolment"
        kept_back = await one(
            "SELECT count(*) FROM enrollment WHERE unit_id = :u AND plan_code = :p AND "
            "status = 'cancelled' AND contribution_paid != 0"
        )
        assert kept_back == 0
    return Decimal(credit) / 100
