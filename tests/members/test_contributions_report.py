"""The contributions report (GET /api/v1/reports/contributions) and the paid, owed and credit
columns of the enrolment report, on a data set whose figures are worked out by hand below;
payments recorded by finance through the API (tests.payment_support). Both backends.

MED-2026 at 36.50 a share; payments are allocated oldest enrolment first:
- 甲 enrols 1, 2 and 3 shares (219.00 due) and pays 100.00: the first (36.50) is paid, the
  second has 63.50 of its 73.00: paid 100.00, owed 119.00, 2 unpaid, no credit.
- 乙 enrols 1 share (36.50) and pays 50.00: paid 36.50, owed 0, credit 13.50.
- 丙 has no enrolment and pays 20.00 ahead: credit 20.00.
- 丁 enrols 1 and 1 share (73.00) and pays nothing: owed 73.00, 2 unpaid.
- 戊 pays 36.50 for its enrolment, and the payment is reversed: owed 36.50, received 0.
Totals: 7 enrolments, due 365.00, paid 136.50, owed 228.50, credit 33.50, received 170.00,
5 unpaid; 3 of 5 units owe."""

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from tests.dates import COVER_START, TODAY
from tests.payment_support import record_payment, reverse_payment
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

pytestmark = pytest.mark.calendar  # days overdue depend on today (scripts/test.sh)

PLAN = "MED-2026"
REPORT = "/api/v1/reports/contributions"
PAID_ON = COVER_START - timedelta(days=3)


async def _unit_enrolling(members, name: str, shares: list[int], plan: str = PLAN) -> str:
    unit = await new_unit(members, name=name, insured_headcount=10)
    for count in shares:
        member = await new_member(members, unit)
        response = await enrol(members, member, plan, shares=count)
        assert response.status_code == 201, response.text
    return unit


async def worked_example(members, **plan_fields) -> dict[str, str]:
    await new_plan(members, PLAN, contribution_per_share="36.50", **plan_fields)
    await new_plan(members, "OTHER-2026")
    units = {
        "甲": await _unit_enrolling(members, "甲", [1, 2, 3]),
        "乙": await _unit_enrolling(members, "乙", [1]),
        "丙": await new_unit(members, name="丙"),
        "丁": await _unit_enrolling(members, "丁", [1, 1]),
        "戊": await _unit_enrolling(members, "戊", [1]),
    }
    await record_payment(members, units["甲"], PLAN, "100.00", PAID_ON)
    await record_payment(members, units["乙"], PLAN, "50.00", PAID_ON)
    await record_payment(members, units["丙"], PLAN, "20.00", PAID_ON)
    reversed_payment = await record_payment(members, units["戊"], PLAN, "36.50", PAID_ON)
    await reverse_payment(members, reversed_payment["id"])
    # noise: another plan's enrolment and payment count nowhere in MED-2026's report
    other = await _unit_enrolling(members, "己", [1], plan="OTHER-2026")
    await record_payment(members, other, "OTHER-2026", "36.00", PAID_ON)
    return units


async def contributions(members, headers=FINANCE, **params) -> dict:
    response = await members.get(REPORT, params={"plan_code": PLAN, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def money_row(row: dict) -> tuple:
    keys = ("enrollments", "due", "paid", "owed", "credit", "received", "unpaid_enrollments")
    return tuple(row[key] for key in keys)


class TestContributionsReport:
    async def test_each_unit_and_the_totals_match_the_worked_example(self, members):
        units = await worked_example(members)
        report = await contributions(members)
        assert report["plan_code"] == PLAN
        assert report["as_of"] == str(TODAY)
        rows = {row["unit_id"]: row for row in report["by_unit"]}
        assert set(rows) == set(units.values())
        assert [row["unit_name"] for row in report["by_unit"]] == sorted(units)
        assert money_row(rows[units["甲"]]) == (
            3,
            "219.00",
            "100.00",
            "119.00",
            "0.00",
            "100.00",
            2,
        )
        assert money_row(rows[units["乙"]]) == (1, "36.50", "36.50", "0.00", "13.50", "50.00", 0)
        assert money_row(rows[units["丙"]]) == (0, "0.00", "0.00", "0.00", "20.00", "20.00", 0)
        assert money_row(rows[units["丁"]]) == (2, "73.00", "0.00", "73.00", "0.00", "0.00", 2)
        assert money_row(rows[units["戊"]]) == (1, "36.50", "0.00", "36.50", "0.00", "0.00", 1)
        assert report["totals"] == {
            "units": 5,
            "units_owing": 3,
            "enrollments": 7,
            "due": "365.00",
            "paid": "136.50",
            "owed": "228.50",
            "credit": "33.50",
            "received": "170.00",
            "unpaid_enrollments": 5,
        }
        # the window is still open: nobody is overdue yet
        assert report["days_overdue"] == 0
        assert {row["days_overdue"] for row in report["by_unit"]} == {0}

    async def test_days_overdue_count_from_enrol_until_for_those_who_owe(self, members):
        enrol_until = TODAY - timedelta(days=12)
        window = {"enrol_from": str(TODAY - timedelta(days=60)), "enrol_until": str(enrol_until)}
        await new_plan(members, PLAN, contribution_per_share="36.50", **window)
        owing, settled = await new_unit(members, "欠"), await new_unit(members, "清")
        for unit in (owing, settled):
            member = await new_member(members, unit)
            enrolled_on = str(enrol_until - timedelta(days=5))
            response = await enrol(members, member, PLAN, enrolled_on=enrolled_on)
            assert response.status_code == 201, response.text
        await record_payment(members, settled, PLAN, "36.50", PAID_ON)
        await record_payment(members, owing, PLAN, "10.00", PAID_ON)
        report = await contributions(members)
        rows = {row["unit_id"]: row for row in report["by_unit"]}
        assert rows[owing]["days_overdue"] == 12 and rows[owing]["owed"] == "26.50"
        assert rows[settled]["days_overdue"] == 0 and rows[settled]["owed"] == "0.00"
        assert report["enrol_until"] == str(enrol_until)
        assert report["days_overdue"] == 12

    async def test_a_cancelled_enrolment_is_not_due(self, members):
        await new_plan(members, PLAN, contribution_per_share="36.50")
        unit = await new_unit(members)
        late = str(TODAY + timedelta(days=20))
        enrolments = []
        for _ in range(2):
            response = await enrol(members, await new_member(members, unit), PLAN, starts_on=late)
            assert response.status_code == 201, response.text
            enrolments.append(response.json())
        cancelled = await members.post(
            f"/api/v1/enrollments/{enrolments[1]['id']}/cancel", json={}, headers=ADMIN
        )
        assert cancelled.status_code == 200, cancelled.text
        [row] = (await contributions(members))["by_unit"]
        assert money_row(row) == (1, "36.50", "0.00", "36.50", "0.00", "0.00", 1)

    async def test_a_unit_whose_only_enrolment_was_cancelled_unpaid_is_not_listed(self, members):
        """It has no live enrolment, no payment and no credit: nothing to report."""
        await new_plan(members, PLAN, contribution_per_share="36.50")
        unit = await new_unit(members)
        late = str(TODAY + timedelta(days=20))
        response = await enrol(members, await new_member(members, unit), PLAN, starts_on=late)
        assert response.status_code == 201, response.text
        cancelled = await members.post(
            f"/api/v1/enrollments/{response.json()['id']}/cancel", json={}, headers=ADMIN
        )
        assert cancelled.status_code == 200, cancelled.text
        report = await contributions(members)
        assert report["by_unit"] == []
        assert report["totals"]["units"] == 0

    async def test_totals_past_a_trillion_are_shown_not_a_500(self, members):
        """Each payment is under a trillion yuan; two mistyped ones add up past it."""
        await new_plan(members, PLAN, contribution_per_share="36.50")
        for name in ("甲", "乙"):
            unit = await new_unit(members, name=name)
            await record_payment(members, unit, PLAN, "600000000000.00", PAID_ON)
        report = await contributions(members)
        assert report["totals"]["credit"] == "1200000000000.00"
        assert report["totals"]["received"] == "1200000000000.00"
        enrolment_report = await members.get(
            "/api/v1/reports/enrollment", params={"plan_code": PLAN}, headers=ADMIN
        )
        assert enrolment_report.status_code == 200, enrolment_report.text

    @pytest.mark.parametrize("role", ["admin", "auditor", "finance"])
    async def test_admin_auditor_and_finance_read_it(self, members, role):
        await new_plan(members, PLAN)
        assert (await contributions(members, headers=bearer(role)))["by_unit"] == []

    @pytest.mark.parametrize(
        "headers",
        [bearer("reviewer"), bearer("hr", unit_id="unt_0"), bearer("member", member_id="m")],
    )
    async def test_no_one_else_reads_it(self, members, headers):
        await new_plan(members, PLAN)
        response = await members.get(REPORT, params={"plan_code": PLAN}, headers=headers)
        assert response.status_code == 403

    async def test_unknown_plan_is_404_and_no_plan_is_422(self, members):
        missing = await members.get(REPORT, params={"plan_code": "NOPE-1"}, headers=AUDITOR)
        assert missing.status_code == 404
        assert (await members.get(REPORT, headers=AUDITOR)).status_code == 422


class TestContributionsReportExports:
    async def test_csv_reads_back_with_chinese_headers_and_the_worked_figures(self, members):
        units = await worked_example(members)
        response = await members.get(
            REPORT, params={"plan_code": PLAN, "format": "csv"}, headers=FINANCE
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
        assert f"contributions-report-{PLAN}.csv" in response.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == [
            "单位编号",
            "单位名称",
            "参保人次",
            "应缴金额",
            "已缴金额",
            "欠缴金额",
            "预缴余额",
            "实收金额",
            "未缴清人次",
            "逾期天数",
        ]
        by_unit = {row[0]: row for row in rows[1:-1]}
        assert by_unit[units["甲"]][1:] == [
            "甲",
            "3",
            "219.00",
            "100.00",
            "119.00",
            "0.00",
            "100.00",
            "2",
            "0",
        ]
        assert by_unit[units["乙"]][6] == "13.50"
        assert rows[-1] == [
            "合计",
            "",
            "7",
            "365.00",
            "136.50",
            "228.50",
            "33.50",
            "170.00",
            "5",
            "0",
        ]

    async def test_xlsx_has_a_summary_and_the_units_with_exact_money(self, members):
        units = await worked_example(members)
        response = await members.get(
            REPORT, params={"plan_code": PLAN, "format": "xlsx"}, headers=AUDITOR
        )
        assert response.status_code == 200, response.text
        workbook = load_workbook(io.BytesIO(response.content))
        assert workbook.sheetnames == ["汇总", "按单位"]
        summary = {row[0]: row[1] for row in workbook["汇总"].iter_rows(values_only=True)}
        assert summary["保障项目"] == PLAN
        assert (summary["单位数"], summary["欠缴单位数"], summary["未缴清人次"]) == (5, 3, 5)
        assert f"{summary['欠缴金额']:.2f}" == "228.50"
        assert f"{summary['预缴余额']:.2f}" == "33.50"
        sheet = list(workbook["按单位"].iter_rows(values_only=True))
        assert sheet[0][:4] == ("单位编号", "单位名称", "参保人次", "应缴金额")
        first = {row[0]: row for row in sheet[1:-1]}[units["甲"]]
        assert [f"{value:.2f}" for value in first[3:8]] == [
            "219.00",
            "100.00",
            "119.00",
            "0.00",
            "100.00",
        ]
        assert first[8:] == (2, 0)
        cell = workbook["按单位"]["D2"]
        assert cell.number_format == "0.00"
        assert sheet[-1][0] == "合计" and f"{sheet[-1][5]:.2f}" == "228.50"


class TestEnrollmentReportPayments:
    async def test_paid_owed_and_credit_per_unit_and_in_all(self, members):
        units = await worked_example(members)
        response = await members.get(
            "/api/v1/reports/enrollment", params={"plan_code": PLAN}, headers=AUDITOR
        )
        assert response.status_code == 200, response.text
        report = response.json()
        rows = {row["unit_id"]: row for row in report["by_unit"]}
        # 丙 enrolled nobody: it is no row of the enrolment report (its credit is in the other)
        assert units["丙"] not in rows
        assert (rows[units["甲"]]["paid"], rows[units["甲"]]["owed"]) == ("100.00", "119.00")
        assert (rows[units["乙"]]["owed"], rows[units["乙"]]["credit"]) == ("0.00", "13.50")
        assert rows[units["丁"]]["credit"] == "0.00"
        assert (report["contributions"], report["paid"], report["owed"]) == (
            "365.00",
            "136.50",
            "228.50",
        )
        assert report["credit"] == "13.50"

        as_csv = await members.get(
            "/api/v1/reports/enrollment", params={"plan_code": PLAN, "format": "csv"}, headers=ADMIN
        )
        table = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        assert table[0][-3:] == ["已缴互助金", "欠缴互助金", "预缴余额"]
        assert {row[0]: row[-3:] for row in table[1:-1]}[units["甲"]] == [
            "100.00",
            "119.00",
            "0.00",
        ]
        assert table[-1][-3:] == ["136.50", "228.50", "13.50"]
