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


class TestEnrollmentReportExports:
    async def test_csv_and_xlsx_read_back_with_chinese_headers(self, members):
        import csv
        import io

        from openpyxl import load_workbook

        await new_plan(members, "MED-2026", contribution_per_share="36.50")
        unit = await _enrol_unit(members, "MED-2026", 4, [1, 2, 3])
        params = {"plan_code": "MED-2026"}
        as_csv = await members.get(
            "/api/v1/reports/enrollment", params={**params, "format": "csv"}, headers=AUDITOR
        )
        assert as_csv.status_code == 200
        rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        assert rows[0][:4] == ["单位编号", "单位名称", "参保职工人数", "参保人次"]
        assert rows[1][0] == unit and rows[1][3:7] == ["3", "3", "219.00", "0.7500"]
        assert rows[1][7] == "是"  # 3 of 4: below 80%
        assert rows[-1][0] == "合计" and rows[-1][5] == "219.00"  # (1 + 2 + 3) x 36.50
        as_xlsx = await members.get(
            "/api/v1/reports/enrollment", params={**params, "format": "xlsx"}, headers=AUDITOR
        )
        workbook = load_workbook(io.BytesIO(as_xlsx.content))
        summary = {row[0]: row[1] for row in workbook["汇总"].iter_rows(values_only=True)}
        assert summary["参保人次"] == 3 and summary["参保单位数"] == 1
        assert str(summary["应缴互助金"]) in ("219", "219.00")

    async def test_a_unit_name_with_a_control_character_still_exports_to_xlsx(
        self, members, members_app
    ):
        """A name stored before names refused control characters (written here directly)."""
        import io

        from openpyxl import load_workbook
        from sqlalchemy import update

        from members_api.models import Unit

        await new_plan(members, "MED-2026")
        unit = await new_unit(members, "第一机床厂")
        async with members_app.state.database.engine.begin() as connection:
            await connection.execute(
                update(Unit).where(Unit.id == unit).values(name="第一\x1f机床厂")
            )
        await enrol(members, await new_member(members, unit), "MED-2026")
        as_xlsx = await members.get(
            "/api/v1/reports/enrollment",
            params={"plan_code": "MED-2026", "format": "xlsx"},
            headers=AUDITOR,
        )
        assert as_xlsx.status_code == 200, as_xlsx.text
        cells = [v for ws in load_workbook(io.BytesIO(as_xlsx.content)) for v in ws.values]
        assert any("第一\ufffd机床厂" in row for row in cells)
