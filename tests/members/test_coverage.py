from datetime import date

import pytest
from sqlalchemy import event

from claims_api.coverage_answers import Coverage
from tests.support import (
    ADMIN,
    REVIEWER,
    bearer,
    enrol,
    member_leaves,
    new_member,
    new_plan,
    new_unit,
)

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)

YEAR_2026 = {
    "coverage_start": "2026-01-01",
    "coverage_end": "2026-12-31",
    "enrol_from": "2025-11-01",
    "enrol_until": "2026-12-31",
    "waiting_days": 30,
    "reduced_days": 90,
    "reduced_ratio": "0.5",
}


async def coverage_on(members, member_id, on, plan_code="MED-2026", headers=ADMIN):
    response = await members.get(
        "/api/v1/coverage",
        params={"member_id": member_id, "plan_code": plan_code, "on": on},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def enrolled_from_new_year(members, shares=1):
    """A member enrolled in MED-2026 from 2026-01-01: waits to 01-30, reduced to 03-31."""
    unit = await new_unit(members)
    member = await new_member(members, unit)
    await new_plan(members, "MED-2026", **YEAR_2026)
    response = await enrol(members, member, "MED-2026", shares, enrolled_on="2025-12-15")
    assert response.status_code == 201, response.text
    return unit, member, response.json()


class TestCoverageAnswers:
    async def test_member_not_enrolled_is_not_covered(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **YEAR_2026)
        answer = await coverage_on(members, member, "2026-06-01")
        assert answer["covered"] is False and answer["reason"] == "not_enrolled"
        assert answer["enrollment"] is None and answer["cover"] is None
        assert answer["benefit_ratio"] == "0"
        assert answer["plan"]["terms"]["waiting_days"] == 30
        assert answer["member"] == {
            "id": member,
            "unit_id": answer["member"]["unit_id"],
            "status": "active",
            "left_on": None,
        }

    async def test_day_before_cover_starts_is_not_enrolled(self, members):
        _, member, _ = await enrolled_from_new_year(members)
        answer = await coverage_on(members, member, "2025-12-31")
        assert (answer["covered"], answer["reason"], answer["cover"]) == (
            False,
            "not_enrolled",
            None,
        )

    async def test_last_waiting_day_is_not_covered_but_shows_the_cover(self, members):
        _, member, enrolment = await enrolled_from_new_year(members)
        answer = await coverage_on(members, member, "2026-01-30")
        assert (answer["covered"], answer["reason"]) == (False, "waiting_period")
        assert answer["benefit_ratio"] == "0"
        assert answer["enrollment"]["id"] == enrolment["id"]
        assert answer["cover"]["waiting_ends_on"] == "2026-01-30"
        assert answer["cover"]["reduced_ends_on"] == "2026-03-31"

    async def test_reduced_period_pays_the_reduced_ratio(self, members):
        _, member, _ = await enrolled_from_new_year(members)
        for day in ("2026-01-31", "2026-03-31"):
            answer = await coverage_on(members, member, day)
            assert (answer["covered"], answer["reason"]) == (True, None)
            assert answer["benefit_ratio"] == "0.5"

    async def test_after_the_reduced_period_pays_in_full(self, members):
        _, member, enrolment = await enrolled_from_new_year(members, shares=2)
        answer = await coverage_on(members, member, "2026-04-01")
        assert (answer["covered"], answer["benefit_ratio"]) == (True, "1")
        cover = answer["cover"]
        assert cover["enrollment_id"] == enrolment["id"] and cover["shares"] == 2
        assert (cover["starts_on"], cover["ends_on"]) == ("2026-01-01", "2026-12-31")
        assert cover["member_left_on"] is None

    async def test_day_after_leaving_is_not_covered(self, members):
        _, member, _ = await enrolled_from_new_year(members)
        await member_leaves(members, member, date(2026, 6, 30))
        last_day = await coverage_on(members, member, "2026-06-30")
        assert last_day["covered"] is True
        after = await coverage_on(members, member, "2026-07-01")
        assert (after["covered"], after["reason"]) == (False, "member_left")
        assert after["cover"]["member_left_on"] == "2026-06-30"
        assert after["member"]["status"] == "left"

    async def test_leaving_during_the_waiting_period_says_member_left(self, members):
        _, member, _ = await enrolled_from_new_year(members)
        await member_leaves(members, member, date(2026, 1, 10))
        answer = await coverage_on(members, member, "2026-01-20")
        assert (answer["covered"], answer["reason"]) == (False, "member_left")

    async def test_cancelled_enrolment_does_not_cover(self, members, members_app):
        from sqlalchemy import update

        from members_api.models import Enrollment

        _, member, enrolment = await enrolled_from_new_year(members)
        async with members_app.state.database.sessions() as session, session.begin():
            await session.execute(
                update(Enrollment)
                .where(Enrollment.id == enrolment["id"])
                .values(status="cancelled")
            )
        answer = await coverage_on(members, member, "2026-06-01")
        assert answer["reason"] == "not_enrolled"

    async def test_terms_corrected_in_the_database_are_answered_at_once(self, members, members_app):
        """The API cannot change a plan, but an operator can correct its stored terms: the next
        answer must carry them, not those parsed for an earlier answer."""
        from sqlalchemy import select, update

        from members_api.models import Plan

        _, member, _ = await enrolled_from_new_year(members)
        before = await coverage_on(members, member, "2026-02-01")
        assert before["benefit_ratio"] == "0.5"
        async with members_app.state.database.sessions() as session, session.begin():
            terms = await session.scalar(select(Plan.terms).where(Plan.code == "MED-2026"))
            await session.execute(
                update(Plan)
                .where(Plan.code == "MED-2026")
                .values(terms={**terms, "reduced_ratio": "0.4"})
            )
        after = await coverage_on(members, member, "2026-02-01")
        assert after["benefit_ratio"] == "0.4"
        assert after["plan"]["terms"]["reduced_ratio"] == "0.4"

    async def test_shares_through_two_units_add_up_on_the_earliest_cover(self, members):
        unit, member, first = await enrolled_from_new_year(members)
        other = await new_unit(members, "B")
        second = await enrol(
            members, member, "MED-2026", 2, unit_id=other, enrolled_on="2026-02-10"
        )
        assert second.status_code == 201, second.text
        answer = await coverage_on(members, member, "2026-06-01")
        assert answer["cover"]["shares"] == 3
        assert answer["cover"]["enrollment_id"] == first["id"]
        assert answer["cover"]["unit_id"] == unit

    async def test_answer_is_what_the_claims_service_reads(self, members):
        _, member, _ = await enrolled_from_new_year(members)
        response = await members.get(
            "/api/v1/coverage",
            params={"member_id": member, "plan_code": "MED-2026", "on": "2026-02-01"},
            headers=ADMIN,
        )
        coverage = Coverage.model_validate_json(response.content)
        assert coverage.covered and coverage.cover is not None
        assert coverage.plan.terms.reduced_days == 90

    async def test_answer_takes_one_query(self, members, members_app):
        _, member, _ = await enrolled_from_new_year(members)
        other = await new_unit(members, "B")
        await enrol(members, member, "MED-2026", 1, unit_id=other, enrolled_on="2026-02-10")
        selects = []

        def count(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("SELECT"):
                selects.append(statement)

        engine = members_app.state.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            await coverage_on(members, member, "2026-06-01")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(selects) == 1


class TestCoverageScoping:
    async def test_member_sees_its_own_coverage_only(self, members):
        unit, member, _ = await enrolled_from_new_year(members)
        other = await new_member(members, unit)
        own = bearer("member", member_id=member)
        assert (await coverage_on(members, member, "2026-06-01", headers=own))["covered"]
        response = await members.get(
            "/api/v1/coverage",
            params={"member_id": other, "plan_code": "MED-2026", "on": "2026-06-01"},
            headers=own,
        )
        assert response.status_code == 404

    async def test_hr_sees_its_units_members_only(self, members):
        unit, member, _ = await enrolled_from_new_year(members)
        own_hr, other_hr = bearer("hr", unit_id=unit), bearer("hr", unit_id=await new_unit(members))
        assert (await coverage_on(members, member, "2026-06-01", headers=own_hr))["covered"]
        response = await members.get(
            "/api/v1/coverage",
            params={"member_id": member, "plan_code": "MED-2026", "on": "2026-06-01"},
            headers=other_hr,
        )
        assert response.status_code == 404

    async def test_reviewer_reads_any_coverage(self, members):
        _, member, _ = await enrolled_from_new_year(members)
        assert (await coverage_on(members, member, "2026-06-01", headers=REVIEWER))["covered"]

    async def test_unknown_member_or_plan_is_404(self, members):
        _, member, _ = await enrolled_from_new_year(members)
        for member_id, plan_code in ((member, "NOPE-2026"), ("mbr_nobody", "MED-2026")):
            response = await members.get(
                "/api/v1/coverage",
                params={"member_id": member_id, "plan_code": plan_code, "on": "2026-06-01"},
                headers=ADMIN,
            )
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"
