"""A plan with `cover_requires_payment`: an enrolment is covered from the later of its
`starts_on` and the day its contribution was paid in full, its waiting and reduced days
counted from then (DOMAIN.md, "Contributions"); an event before is `contribution_unpaid`.
Payments are recorded by finance through the API (tests.payment_support).

The plan (tests.dates): the cover year from COVER_START, 30 waiting days, 90 reduced days at
50%, 36.00 a share. Enrolments start on COVER_START unless said otherwise."""

from datetime import date, timedelta

import pytest

from tests.dates import COVER_START, day
from tests.members.bulk_support import (
    XLSX_TYPE,
    bulk_national_ids,
    import_file,
    xlsx_bytes,
)
from tests.payment_support import record_payment, reverse_payment
from tests.support import ADMIN, enrol, new_member, new_plan, new_unit

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)

GATED = {
    "cover_requires_payment": True,
    "waiting_days": 30,
    "reduced_days": 90,
    "reduced_ratio": "0.5",
}
PLAN = "MED-2026"


async def coverage_on(members, member_id: str, on: date) -> dict:
    response = await members.get(
        "/api/v1/coverage",
        params={"member_id": member_id, "plan_code": PLAN, "on": str(on)},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def reason_on(members, member_id: str, on: date) -> tuple[bool, str | None, str]:
    answer = await coverage_on(members, member_id, on)
    return answer["covered"], answer["reason"], answer["benefit_ratio"]


async def enrolled(members, unit: str, shares: int = 1, starts_on: date = COVER_START) -> dict:
    member = await new_member(members, unit)
    response = await enrol(members, member, PLAN, shares, starts_on=str(starts_on))
    assert response.status_code == 201, response.text
    return response.json()


async def read_enrolment(members, enrollment_id: str) -> dict:
    response = await members.get(f"/api/v1/enrollments/{enrollment_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


class TestCancelling:
    async def test_an_enrolment_never_covered_for_want_of_payment_can_be_cancelled(self, members):
        """Its starts_on is long past, but its cover never started: no cover, nothing to keep."""
        await new_plan(members, PLAN, **GATED)
        unit = await new_unit(members)
        unpaid = await enrolled(members, unit)
        cancelled = await members.post(
            f"/api/v1/enrollments/{unpaid['id']}/cancel", json={}, headers=ADMIN
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        # once paid, its cover has started: refused as before
        paid = await enrolled(members, unit)
        await record_payment(members, unit, PLAN, paid["contribution_due"], day(2, 1))
        refused = await members.post(
            f"/api/v1/enrollments/{paid['id']}/cancel", json={}, headers=ADMIN
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "cover_started"


class TestSingleCoverage:
    async def test_an_unpaid_enrolment_is_covered_on_no_day(self, members):
        await new_plan(members, PLAN, **GATED)
        unit = await new_unit(members)
        enrolment = await enrolled(members, unit)
        for on in (COVER_START, day(2, 1), day(8, 1)):
            answer = await coverage_on(members, enrolment["member_id"], on)
            assert (answer["covered"], answer["reason"]) == (False, "contribution_unpaid")
            assert answer["benefit_ratio"] == "0"
            assert answer["cover"]["enrollment_id"] == enrolment["id"]
            assert answer["cover"]["covered_from"] is None
            assert answer["enrollment"]["covered_from"] is None
        # before the enrolment's own start it is not enrolled, paid or not
        before = await reason_on(members, enrolment["member_id"], COVER_START - timedelta(days=1))
        assert before == (False, "not_enrolled", "0")
        assert enrolment["covered_from"] is None

    async def test_paid_late_cover_starts_on_the_payment_and_waits_from_it(self, members):
        await new_plan(members, PLAN, **GATED)
        unit = await new_unit(members)
        enrolment = await enrolled(members, unit)
        member, paid_on = enrolment["member_id"], day(3, 10)
        await record_payment(members, unit, PLAN, "36.00", paid_on)

        waiting_ends, reduced_ends = paid_on + timedelta(days=29), paid_on + timedelta(days=89)
        expected = [
            (day(2, 1), (False, "contribution_unpaid", "0")),
            (paid_on - timedelta(days=1), (False, "contribution_unpaid", "0")),
            (paid_on, (False, "waiting_period", "0")),
            (waiting_ends, (False, "waiting_period", "0")),
            (waiting_ends + timedelta(days=1), (True, None, "0.5")),
            (reduced_ends, (True, None, "0.5")),
            (reduced_ends + timedelta(days=1), (True, None, "1")),
        ]
        assert [(on, await reason_on(members, member, on)) for on, _ in expected] == expected

        answer = await coverage_on(members, member, paid_on)
        assert answer["cover"]["starts_on"] == str(COVER_START)
        assert answer["cover"]["covered_from"] == str(paid_on)
        assert answer["cover"]["waiting_ends_on"] == str(waiting_ends)
        assert answer["cover"]["reduced_ends_on"] == str(reduced_ends)
        # the enrolment reads the same days, however it is read
        read = await read_enrolment(members, enrolment["id"])
        assert (read["starts_on"], read["covered_from"]) == (str(COVER_START), str(paid_on))
        assert (read["waiting_ends_on"], read["reduced_ends_on"]) == (
            str(waiting_ends),
            str(reduced_ends),
        )
        assert answer["enrollment"] == read
        listed = await members.get(
            "/api/v1/enrollments", params={"member_id": member}, headers=ADMIN
        )
        assert listed.json()["items"] == [read]

    async def test_paid_before_cover_starts_it_starts_on_starts_on(self, members):
        await new_plan(members, PLAN, **GATED)
        unit = await new_unit(members)
        starts_on = day(5, 1)
        enrolment = await enrolled(members, unit, starts_on=starts_on)
        await record_payment(members, unit, PLAN, "36.00", day(3, 1))
        member = enrolment["member_id"]
        assert await reason_on(members, member, starts_on - timedelta(days=1)) == (
            False,
            "not_enrolled",
            "0",
        )
        assert await reason_on(members, member, starts_on) == (False, "waiting_period", "0")
        after_waiting = starts_on + timedelta(days=30)
        assert await reason_on(members, member, after_waiting) == (True, None, "0.5")
        read = await read_enrolment(members, enrolment["id"])
        assert read["covered_from"] == str(starts_on)
        assert read["waiting_ends_on"] == str(starts_on + timedelta(days=29))

    async def test_a_partial_payment_starts_nothing_until_the_rest_arrives(self, members):
        await new_plan(members, PLAN, **GATED)
        unit = await new_unit(members)
        enrolment = await enrolled(members, unit, shares=2)  # 72.00 due
        member = enrolment["member_id"]
        await record_payment(members, unit, PLAN, "50.00", day(2, 1))
        assert (await reason_on(members, member, day(6, 1)))[1] == "contribution_unpaid"
        await record_payment(members, unit, PLAN, "22.00", day(4, 1))
        assert (await reason_on(members, member, day(4, 1) - timedelta(days=1)))[1] == (
            "contribution_unpaid"
        )
        assert await reason_on(members, member, day(4, 1) + timedelta(days=30)) == (
            True,
            None,
            "0.5",
        )

    async def test_a_reversed_payment_leaves_the_enrolment_uncovered_again(self, members):
        await new_plan(members, PLAN, **GATED)
        unit = await new_unit(members)
        enrolment = await enrolled(members, unit)
        payment = await record_payment(members, unit, PLAN, "36.00", day(2, 1))
        assert (await reason_on(members, enrolment["member_id"], day(8, 1)))[0] is True
        await reverse_payment(members, payment["id"])
        answer = await coverage_on(members, enrolment["member_id"], day(8, 1))
        assert (answer["covered"], answer["reason"]) == (False, "contribution_unpaid")
        assert (await read_enrolment(members, enrolment["id"]))["covered_from"] is None

    async def test_without_the_flag_payment_does_not_gate_cover(self, members):
        await new_plan(members, PLAN, **{**GATED, "cover_requires_payment": False})
        unit = await new_unit(members)
        enrolment = await enrolled(members, unit)
        member = enrolment["member_id"]
        assert await reason_on(members, member, day(1, 30)) == (False, "waiting_period", "0")
        assert await reason_on(members, member, day(1, 31)) == (True, None, "0.5")
        assert enrolment["covered_from"] == str(COVER_START)
        assert enrolment["waiting_ends_on"] == str(day(1, 30))

    async def test_shares_through_an_unpaid_unit_do_not_cover(self, members):
        """A member enrolled through two units: only the paid enrolment's shares cover."""
        await new_plan(members, PLAN, **GATED)
        paying, owing = await new_unit(members, "甲"), await new_unit(members, "乙")
        first = await enrolled(members, paying)
        member = first["member_id"]
        second = await enrol(members, member, PLAN, 2, unit_id=owing, starts_on=str(COVER_START))
        assert second.status_code == 201, second.text
        await record_payment(members, paying, PLAN, "36.00", COVER_START - timedelta(days=3))
        answer = await coverage_on(members, member, day(8, 1))
        assert answer["covered"] is True
        assert (answer["cover"]["enrollment_id"], answer["cover"]["shares"]) == (first["id"], 1)
        await record_payment(members, owing, PLAN, "72.00", day(3, 1))
        answer = await coverage_on(members, member, day(8, 1))
        assert answer["cover"]["shares"] == 3


class TestBatchEnrolledCoverage:
    """Members enrolled in bulk (the batch and the import) are covered by the same rule."""

    async def test_a_batch_is_covered_from_the_day_the_unit_pays_for_it(self, members):
        await new_plan(members, PLAN, **GATED)
        unit = await new_unit(members)
        numbers = bulk_national_ids(3, start=7000)
        rows = [{"national_id": n, "name": "李娜", "shares": 1} for n in numbers]
        body = {"unit_id": unit, "plan_code": PLAN, "rows": rows, "starts_on": str(COVER_START)}
        answer = await members.post("/api/v1/enrollments/batch", json=body, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        batch = answer.json()
        member_ids = [row["member_id"] for row in batch["results"]]
        assert all(row["status"] == "ok" for row in batch["results"])
        for member in member_ids:
            assert (await reason_on(members, member, day(8, 1)))[1] == "contribution_unpaid"
        paid_on = day(3, 1)
        await record_payment(members, unit, PLAN, "108.00", paid_on)
        for member in member_ids:
            assert (await reason_on(members, member, paid_on - timedelta(days=1)))[1] == (
                "contribution_unpaid"
            )
            assert (await reason_on(members, member, paid_on))[1] == "waiting_period"
            assert (await reason_on(members, member, paid_on + timedelta(days=30)))[0] is True

    async def test_an_import_paid_from_credit_is_covered_from_its_start(self, members):
        """Paid before the enrolments arrive: the unit's credit pays them as they are made."""
        await new_plan(members, PLAN, **GATED)
        unit = await new_unit(members)
        await record_payment(members, unit, PLAN, "72.00", COVER_START - timedelta(days=5))
        numbers = bulk_national_ids(2, start=7100)
        content = xlsx_bytes(["身份证号", "姓名", "份数"], [[n, "王芳", 1] for n in numbers])
        answer = await import_file(
            members,
            unit,
            PLAN,
            content,
            filename="workers.xlsx",
            content_type=XLSX_TYPE,
            starts_on=str(COVER_START),
        )
        assert answer.status_code == 200, answer.text
        for row in answer.json()["results"]:
            assert row["status"] == "ok", row
            member = row["member_id"]
            assert (await reason_on(members, member, day(1, 30)))[1] == "waiting_period"
            assert await reason_on(members, member, day(1, 31)) == (True, None, "0.5")
