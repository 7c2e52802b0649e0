from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from members_api.enrollments import periods
from members_api.models import audit_event
from services.kit.clock import today
from services.kit.plan_rules import PlanTerms
from tests.support import (
    ADMIN,
    AUDITOR,
    REVIEWER,
    bearer,
    enrol,
    member_leaves,
    new_member,
    new_plan,
    new_unit,
    plan_body,
)

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)

TODAY = today()


def year_2026(**overrides):
    """A plan covering 2026, open for enrolment from November 2025 to the end of 2026."""
    return {
        "coverage_start": "2026-01-01",
        "coverage_end": "2026-12-31",
        "enrol_from": "2025-11-01",
        "enrol_until": "2026-12-31",
        "waiting_days": 30,
        "reduced_days": 90,
        "reduced_ratio": "0.5",
        **overrides,
    }


def around_today(start_in_days: int = -10, **overrides):
    """A plan whose cover started `-start_in_days` days ago (or starts in that many), open now."""
    return {
        "coverage_start": str(TODAY + timedelta(days=start_in_days)),
        "coverage_end": str(TODAY + timedelta(days=300)),
        "enrol_from": str(TODAY - timedelta(days=30)),
        "enrol_until": str(TODAY + timedelta(days=30)),
        **overrides,
    }


async def refusal(response, code):
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == code
    assert problem["detail"]
    return problem["detail"]


class TestPeriods:
    """The pure date arithmetic of members_api.enrollments.periods."""

    def terms(self, **overrides):
        return PlanTerms.model_validate(
            {
                k: v
                for k, v in plan_body("MED-2026", **year_2026(**overrides)).items()
                if k not in ("code", "line", "name")
            }
        )

    def test_domain_example_waiting_then_reduced_period(self):
        dates = periods.periods(self.terms(), date(2026, 1, 1), renewal=False)
        assert dates.waiting_ends_on == date(2026, 1, 30)
        assert dates.reduced_ends_on == date(2026, 3, 31)
        assert dates.ends_on == date(2026, 12, 31)

    def test_renewal_has_no_waiting_or_reduced_period(self):
        dates = periods.periods(self.terms(), date(2026, 1, 1), renewal=True)
        assert (dates.waiting_ends_on, dates.reduced_ends_on, dates.renewal) == (None, None, True)

    def test_plan_without_periods_has_no_period_dates(self):
        dates = periods.periods(self.terms(waiting_days=0, reduced_days=0), date(2026, 5, 1), False)
        assert (dates.waiting_ends_on, dates.reduced_ends_on) == (None, None)

    def test_late_joiner_starts_the_day_after_enrolment(self):
        assert periods.default_starts_on(date(2026, 3, 10), date(2026, 1, 1)) == date(2026, 3, 11)

    def test_early_joiner_starts_at_cover_start(self):
        assert periods.default_starts_on(date(2025, 12, 1), date(2026, 1, 1)) == date(2026, 1, 1)

    def test_renewal_counts_the_uncovered_days_between_editions(self):
        starts = date(2026, 1, 31)
        assert periods.is_renewal(starts, [date(2025, 12, 31)], grace_days=30)  # 30 days gap
        assert not periods.is_renewal(starts, [date(2025, 12, 31)], grace_days=29)
        assert periods.is_renewal(date(2026, 1, 1), [date(2025, 12, 31)], grace_days=0)
        assert not periods.is_renewal(starts, [], grace_days=30)
        assert not periods.is_renewal(starts, [date(2026, 1, 31)], grace_days=30)

    def test_contribution_is_per_share_to_the_fen(self):
        terms = self.terms(contribution_per_share="36.55")
        assert periods.contribution_due(terms, 3) == Decimal("109.65")


class TestEnrol:
    async def test_hr_enrols_its_member_covered_from_the_day_after(self, members):
        unit = await new_unit(members)
        member = await new_member(members, unit)
        await new_plan(members, "MED-2026", **around_today())
        response = await enrol(members, member, "MED-2026", 2, bearer("hr", unit_id=unit))
        assert response.status_code == 201, response.text
        enrolment = response.json()
        assert enrolment["unit_id"] == unit and enrolment["status"] == "active"
        assert enrolment["enrolled_on"] == str(TODAY)
        assert enrolment["starts_on"] == str(TODAY + timedelta(days=1))
        assert enrolment["ends_on"] == str(TODAY + timedelta(days=300))
        assert enrolment["contribution_due"] == "72.00"

    async def test_early_enrolment_is_covered_from_cover_start(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **around_today(start_in_days=20))
        enrolment = (await enrol(members, member, "MED-2026")).json()
        assert enrolment["starts_on"] == str(TODAY + timedelta(days=20))

    async def test_waiting_and_reduced_dates_follow_the_domain_example(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **year_2026())
        response = await enrol(
            members, member, "MED-2026", enrolled_on="2026-02-10", starts_on="2026-01-01"
        )
        assert response.status_code == 201, response.text
        enrolment = response.json()
        assert enrolment["starts_on"] == "2026-01-01"
        assert enrolment["waiting_ends_on"] == "2026-01-30"
        assert enrolment["reduced_ends_on"] == "2026-03-31"
        assert enrolment["renewal"] is False

    async def test_contribution_due_is_per_share_times_shares(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **year_2026(contribution_per_share="36.55"))
        response = await enrol(members, member, "MED-2026", 3, enrolled_on="2025-12-01")
        assert response.json()["contribution_due"] == "109.65"

    async def test_same_idempotency_key_returns_the_first_enrolment(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **year_2026())
        headers = {**ADMIN, "Idempotency-Key": "enrol-1"}
        extra = {"enrolled_on": "2025-12-01"}
        first = await enrol(members, member, "MED-2026", headers=headers, **extra)
        again = await enrol(members, member, "MED-2026", headers=headers, **extra)
        assert again.json() == first.json()
        listed = await members.get("/api/v1/enrollments", headers=ADMIN)
        assert len(listed.json()["items"]) == 1

    async def test_audit_log_keeps_the_dates_an_admin_set(self, members, members_app):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **year_2026())
        body = {"enrolled_on": "2026-02-10", "starts_on": "2026-01-01"}
        enrolment = (await enrol(members, member, "MED-2026", **body)).json()
        table = audit_event
        query = select(table.c.action, table.c.after).where(table.c.entity_id == enrolment["id"])
        async with members_app.state.database.sessions() as session:
            [(action, after)] = (await session.execute(query)).all()
        assert action == "enrollment.create"
        assert after["enrolled_on"] == "2026-02-10" and after["starts_on"] == "2026-01-01"
        assert after["starts_on_set_by_admin"] is True


class TestRenewal:
    async def enrol_in_2025_then_2026(self, members, starts_on):
        member = await new_member(members, await new_unit(members))
        await new_plan(
            members,
            "MED-2025",
            coverage_start="2025-01-01",
            coverage_end="2025-12-31",
            enrol_from="2024-11-01",
            enrol_until="2025-12-31",
            waiting_days=30,
        )
        await new_plan(members, "MED-2026", **year_2026(renewal_grace_days=30))
        first = await enrol(members, member, "MED-2025", enrolled_on="2024-12-01")
        assert first.status_code == 201, first.text
        second = await enrol(
            members, member, "MED-2026", enrolled_on="2026-01-10", starts_on=starts_on
        )
        assert second.status_code == 201, second.text
        return second.json()

    async def test_renewal_within_grace_has_no_waiting_period(self, members):
        enrolment = await self.enrol_in_2025_then_2026(members, "2026-01-31")  # 30 days gap
        assert enrolment["renewal"] is True
        assert enrolment["waiting_ends_on"] is None and enrolment["reduced_ends_on"] is None

    async def test_return_after_the_grace_days_waits_again(self, members):
        enrolment = await self.enrol_in_2025_then_2026(members, "2026-02-01")  # 31 days gap
        assert enrolment["renewal"] is False
        assert enrolment["waiting_ends_on"] == "2026-03-02"
        assert enrolment["reduced_ends_on"] == "2026-05-01"


class TestRefusals:
    async def test_member_who_left_cannot_enrol(self, members):
        member = await new_member(members, await new_unit(members))
        await member_leaves(members, member, date(2025, 10, 31))
        await new_plan(members, "MED-2026", **year_2026())
        detail = await refusal(
            await enrol(members, member, "MED-2026", enrolled_on="2025-12-01"), "member_left"
        )
        assert "2025-10-31" in detail

    async def test_man_cannot_join_a_womens_plan(self, members):
        member = await new_member(members, await new_unit(members), sex="M")
        await new_plan(members, "WOMEN-2026", "fixed_benefit", **year_2026())
        response = await enrol(members, member, "WOMEN-2026", enrolled_on="2025-12-01")
        await refusal(response, "sex_not_eligible")

    async def test_age_above_the_range_on_the_day_cover_starts_is_refused(self, members):
        member = await new_member(members, await new_unit(members), birth=date(1965, 6, 15))
        await new_plan(members, "WOMEN-2026", "fixed_benefit", **year_2026())  # ages 16..60
        at_60 = await enrol(
            members, member, "WOMEN-2026", enrolled_on="2025-12-01", starts_on="2026-06-14"
        )
        assert at_60.status_code == 201, at_60.text
        at_61 = await enrol(
            members, member, "WOMEN-2026", enrolled_on="2025-12-01", starts_on="2026-06-15"
        )
        detail = await refusal(at_61, "age_out_of_range")
        assert "61" in detail

    async def test_more_shares_than_the_plan_allows_across_units(self, members):
        unit_a, unit_b = await new_unit(members, "A"), await new_unit(members, "B")
        member = await new_member(members, unit_a)
        await new_plan(members, "MED-2026", **year_2026(max_shares=3))
        early = {"enrolled_on": "2025-12-01"}
        assert (await enrol(members, member, "MED-2026", 2, **early)).status_code == 201
        too_many = await enrol(members, member, "MED-2026", 2, unit_id=unit_b, **early)
        detail = await refusal(too_many, "max_shares_exceeded")
        assert "3" in detail
        one_more = await enrol(members, member, "MED-2026", 1, unit_id=unit_b, **early)
        assert one_more.status_code == 201, one_more.text
        covered = await members.get(
            f"/api/v1/coverage?member_id={member}&plan_code=MED-2026&on=2026-06-01", headers=ADMIN
        )
        assert covered.json()["cover"]["shares"] == 3

    async def test_enrolment_outside_the_window_is_refused(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **year_2026())
        response = await enrol(members, member, "MED-2026", enrolled_on="2025-10-31")
        detail = await refusal(response, "enrolment_closed")
        assert "2025-11-01" in detail

    async def test_inactive_unit_cannot_enrol(self, members):
        unit = await new_unit(members)
        member = await new_member(members, unit)
        await new_plan(members, "MED-2026", **year_2026())
        patched = await members.patch(
            f"/api/v1/units/{unit}", json={"active": False}, headers=ADMIN
        )
        assert patched.status_code == 200
        response = await enrol(members, member, "MED-2026", enrolled_on="2025-12-01")
        await refusal(response, "unit_inactive")

    async def test_admin_cannot_start_cover_before_the_plans_cover(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **year_2026())
        response = await enrol(
            members, member, "MED-2026", enrolled_on="2025-12-01", starts_on="2025-12-31"
        )
        await refusal(response, "starts_on_before_cover")

    async def test_unknown_member_or_plan_is_404(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **year_2026())
        assert (await enrol(members, "mbr_nobody", "MED-2026")).status_code == 404
        assert (await enrol(members, member, "NOPE-2026")).status_code == 404

    async def test_cancelled_shares_do_not_count(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **around_today(start_in_days=20, max_shares=1))
        first = (await enrol(members, member, "MED-2026")).json()
        cancelled = await members.post(f"/api/v1/enrollments/{first['id']}/cancel", headers=ADMIN)
        assert cancelled.status_code == 200
        assert (await enrol(members, member, "MED-2026")).status_code == 201


class TestHrScoping:
    async def test_hr_cannot_enrol_another_units_member(self, members):
        own, other = await new_unit(members, "Own"), await new_unit(members, "Other")
        stranger = await new_member(members, other)
        await new_plan(members, "MED-2026", **around_today())
        hr = bearer("hr", unit_id=own)
        assert (await enrol(members, stranger, "MED-2026", headers=hr)).status_code == 404

    async def test_hr_cannot_enrol_through_another_unit(self, members):
        own, other = await new_unit(members, "Own"), await new_unit(members, "Other")
        member = await new_member(members, own)
        await new_plan(members, "MED-2026", **around_today())
        hr = bearer("hr", unit_id=own)
        response = await enrol(members, member, "MED-2026", headers=hr, unit_id=other)
        assert response.status_code == 404

    async def test_only_an_admin_sets_the_dates(self, members):
        unit = await new_unit(members)
        member = await new_member(members, unit)
        await new_plan(members, "MED-2026", **around_today())
        hr = bearer("hr", unit_id=unit)
        for field in ("enrolled_on", "starts_on"):
            response = await enrol(members, member, "MED-2026", headers=hr, **{field: str(TODAY)})
            assert response.status_code == 403

    async def test_reviewer_cannot_enrol(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **around_today())
        assert (await enrol(members, member, "MED-2026", headers=REVIEWER)).status_code == 403

    async def test_hr_lists_its_units_enrolments_and_a_member_its_own(self, members):
        own, other = await new_unit(members, "Own"), await new_unit(members, "Other")
        mine, theirs = await new_member(members, own), await new_member(members, other)
        await new_plan(members, "MED-2026", **around_today())
        ours = (await enrol(members, mine, "MED-2026")).json()
        not_ours = (await enrol(members, theirs, "MED-2026")).json()
        hr = bearer("hr", unit_id=own)
        listed = await members.get("/api/v1/enrollments", headers=hr)
        assert [e["id"] for e in listed.json()["items"]] == [ours["id"]]
        asked = await members.get(f"/api/v1/enrollments?unit_id={other}", headers=hr)
        assert asked.json()["items"] == []
        hidden = await members.get(f"/api/v1/enrollments/{not_ours['id']}", headers=hr)
        assert hidden.status_code == 404
        own_member = bearer("member", member_id=theirs)
        listed = await members.get("/api/v1/enrollments", headers=own_member)
        assert [e["id"] for e in listed.json()["items"]] == [not_ours["id"]]
        everything = await members.get("/api/v1/enrollments", headers=AUDITOR)
        assert len(everything.json()["items"]) == 2


class TestListEnrollments:
    async def test_filters_and_pages(self, members):
        unit = await new_unit(members)
        first, second = await new_member(members, unit), await new_member(members, unit)
        await new_plan(members, "MED-2026", **around_today(start_in_days=20))
        await new_plan(members, "DAY-2026", "daily_allowance", **around_today(start_in_days=20))
        for member in (first, second):
            for plan in ("MED-2026", "DAY-2026"):
                assert (await enrol(members, member, plan)).status_code == 201
        page = await members.get("/api/v1/enrollments?limit=3", headers=ADMIN)
        rest = await members.get(
            f"/api/v1/enrollments?limit=3&cursor={page.json()['next_cursor']}", headers=ADMIN
        )
        assert len(page.json()["items"]) == 3 and len(rest.json()["items"]) == 1
        query = f"member_id={first}&plan_code=DAY-2026&unit_id={unit}&status=active"
        filtered = (await members.get(f"/api/v1/enrollments?{query}", headers=ADMIN)).json()
        assert [(e["member_id"], e["plan_code"]) for e in filtered["items"]] == [
            (first, "DAY-2026")
        ]
        cancelled = await members.get("/api/v1/enrollments?status=cancelled", headers=ADMIN)
        assert cancelled.json()["items"] == []


class TestCancel:
    async def test_admin_cancels_before_cover_starts(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **around_today(start_in_days=20))
        enrolment = (await enrol(members, member, "MED-2026")).json()
        response = await members.post(
            f"/api/v1/enrollments/{enrolment['id']}/cancel",
            json={"reason": "enrolled twice by mistake"},
            headers=ADMIN,
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        assert response.json()["cancelled_at"] is not None

    async def test_cover_already_started_cannot_be_cancelled(self, members):
        member = await new_member(members, await new_unit(members))
        await new_plan(members, "MED-2026", **around_today(start_in_days=-10))
        started = str(TODAY - timedelta(days=5))
        enrolment = (await enrol(members, member, "MED-2026", starts_on=started)).json()
        response = await members.post(
            f"/api/v1/enrollments/{enrolment['id']}/cancel", headers=ADMIN
        )
        detail = await refusal(response, "cover_started")
        assert started in detail

    async def test_only_an_admin_cancels(self, members):
        unit = await new_unit(members)
        member = await new_member(members, unit)
        await new_plan(members, "MED-2026", **around_today(start_in_days=20))
        enrolment = (await enrol(members, member, "MED-2026")).json()
        hr = bearer("hr", unit_id=unit)
        response = await members.post(f"/api/v1/enrollments/{enrolment['id']}/cancel", headers=hr)
        assert response.status_code == 403
