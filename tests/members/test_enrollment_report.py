"""The enrolment report on a data set whose totals are known in advance."""

import random

from tests.support import ADMIN, AUDITOR, bearer, enrol, new_member, new_plan, new_unit


async def _enrol_unit(members, plan_code: str, headcount: int, shares: list[int]) -> str:
    unit = await new_unit(members, name=f"单位{headcount}", insured_headcount=headcount)
    for count in shares:
        member = await new_member(members, unit)
        response = await enrol(members, member, plan_code, shares=count)
        assert response.status_code == 201, response.text
    return unit


class TestEnrollmentReport:
    async def test_figures_per_plan_and_per_unit_match_the_enrolments(self, members):
        await new_plan(members, "MED-2026", contribution_per_share="36.50")
        await new_plan(members, "OTHER-2026")
        rng = random.Random(7)
        # unit A: 10 workers of 12 insured (83.33%), unit B: 5 of 10 (50%: flagged)
        shares_a = [rng.choice([1, 2, 3]) for _ in range(10)]
        shares_b = [rng.choice([1, 2]) for _ in range(5)]
        unit_a = await _enrol_unit(members, "MED-2026", 12, shares_a)
        unit_b = await _enrol_unit(members, "MED-2026", 10, shares_b)
        # noise in another plan must not count
        await _enrol_unit(members, "OTHER-2026", 3, [1, 1])

        response = await members.get(
            "/api/v1/reports/enrollment", params={"plan_code": "MED-2026"}, headers=AUDITOR
        )
        assert response.status_code == 200, response.text
        report = response.json()
        expected_a = f"{sum(shares_a) * 36.5:.2f}"
        expected_b = f"{sum(shares_b) * 36.5:.2f}"
        assert report["units"] == 2
        assert report["person_times"] == 15
        assert report["members"] == 15
        assert report["contributions"] == f"{(sum(shares_a) + sum(shares_b)) * 36.5:.2f}"
        assert report["units_below_80_percent"] == 1
        rows = {row["unit_id"]: row for row in report["by_unit"]}
        assert rows[unit_a]["person_times"] == 10
        assert rows[unit_a]["contributions"] == expected_a
        assert rows[unit_a]["participation_ratio"] == "0.8333"
        assert rows[unit_a]["below_80_percent"] is False
        assert rows[unit_b]["participation_ratio"] == "0.5000"
        assert rows[unit_b]["contributions"] == expected_b
        assert rows[unit_b]["below_80_percent"] is True

    async def test_a_cancelled_enrolment_is_not_a_person_time(self, members):
        plan = await new_plan(members, "MED-2026")
        unit = await new_unit(members, insured_headcount=2)
        member = await new_member(members, unit)
        enrolment = (await enrol(members, member, plan["code"])).json()
        report = (
            await members.get(
                "/api/v1/reports/enrollment", params={"plan_code": "MED-2026"}, headers=ADMIN
            )
        ).json()
        assert report["person_times"] == 1
        cancelled = await members.post(
            f"/api/v1/enrollments/{enrolment['id']}/cancel", json={}, headers=ADMIN
        )
        if cancelled.status_code == 201 or cancelled.status_code == 200:
            report = (
                await members.get(
                    "/api/v1/reports/enrollment", params={"plan_code": "MED-2026"}, headers=ADMIN
                )
            ).json()
            assert report["person_times"] == 0
            assert report["units"] == 0
        else:  # cover already started: cancelling is refused and the person-time stands
            assert cancelled.json()["code"] == "cover_started"

    async def test_line_and_year_select_the_editions_of_that_year(self, members):
        await new_plan(members, "MED-2026")
        unit = await new_unit(members, insured_headcount=1)
        member = await new_member(members, unit)
        assert (await enrol(members, member, "MED-2026")).status_code == 201
        plan_year = (await members.get("/api/v1/plans/MED-2026", headers=ADMIN)).json()
        year = plan_year["coverage_start"][:4]
        report = await members.get(
            "/api/v1/reports/enrollment", params={"line": "MED", "year": year}, headers=ADMIN
        )
        assert report.json()["plan_codes"] == ["MED-2026"]
        assert report.json()["person_times"] == 1

    async def test_only_admin_and_auditor_read_it(self, members):
        await new_plan(members, "MED-2026")
        for role in ("reviewer", "finance"):
            response = await members.get(
                "/api/v1/reports/enrollment", params={"plan_code": "MED-2026"}, headers=bearer(role)
            )
            assert response.status_code == 403
        hr = bearer("hr", unit_id="unt_0")
        response = await members.get(
            "/api/v1/reports/enrollment", params={"plan_code": "MED-2026"}, headers=hr
        )
        assert response.status_code == 403

    async def test_unknown_plan_is_404_and_no_plan_is_422(self, members):
        missing = await members.get(
            "/api/v1/reports/enrollment", params={"plan_code": "NOPE-1"}, headers=ADMIN
        )
        assert missing.status_code == 404
        nothing = await members.get("/api/v1/reports/enrollment", headers=ADMIN)
        assert nothing.status_code == 422
