"""The registry's reports as spreadsheets: per-unit rows and a total row in CSV; summary and
units as two sheets in XLSX. Chinese headers, as the federation's auditors and finance staff
read them. Columns added later come after the earlier ones, so a sheet read by position
still finds them where they were."""

from fastapi.responses import Response

from members_api.reports.schemas import ContributionsReport, EnrollmentReport
from services.kit.exports import Sheet, csv_response, xlsx_response

UNIT_HEADERS = (
    "单位编号",
    "单位名称",
    "参保职工人数",
    "参保人次",
    "参保人数",
    "应缴互助金",
    "参保率",
    "低于80%",
    "已缴互助金",
    "欠缴互助金",
    "预缴余额",
)


def _units_sheet(report: EnrollmentReport) -> Sheet:
    rows = [
        (
            u.unit_id,
            u.unit_name,
            u.insured_headcount,
            u.person_times,
            u.members,
            u.contributions,
            u.participation_ratio,
            "是" if u.below_80_percent else "否",
            u.paid,
            u.owed,
            u.credit,
        )
        for u in report.by_unit
    ]
    total = ("合计", "", "", report.person_times, report.members, report.contributions, "", "")
    rows.append((*total, report.paid, report.owed, report.credit))
    return Sheet("按单位", UNIT_HEADERS, rows)


def _summary_sheet(report: EnrollmentReport) -> Sheet:
    rows = [
        ("保障项目", "、".join(report.plan_codes)),
        ("参保单位数", report.units),
        ("参保人次", report.person_times),
        ("参保人数", report.members),
        ("应缴互助金", report.contributions),
        ("参保率低于80%的单位数", report.units_below_80_percent),
        ("已缴互助金", report.paid),
        ("欠缴互助金", report.owed),
        ("预缴余额", report.credit),
    ]
    return Sheet("汇总", ("项目", "数值"), rows)


def export(report: EnrollmentReport, fmt: str) -> Response:
    name = f"enrollment-report-{'-'.join(report.plan_codes)}"
    if fmt == "csv":
        return csv_response(_units_sheet(report), name)
    return xlsx_response([_summary_sheet(report), _units_sheet(report)], name)


CONTRIBUTION_HEADERS = (
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
)


def _contribution_units(report: ContributionsReport) -> Sheet:
    rows: list[tuple[object, ...]] = [
        (
            u.unit_id,
            u.unit_name,
            u.enrollments,
            u.due,
            u.paid,
            u.owed,
            u.credit,
            u.received,
            u.unpaid_enrollments,
            u.days_overdue,
        )
        for u in report.by_unit
    ]
    t = report.totals
    rows.append(
        (
            "合计",
            "",
            t.enrollments,
            t.due,
            t.paid,
            t.owed,
            t.credit,
            t.received,
            t.unpaid_enrollments,
            report.days_overdue,
        )
    )
    return Sheet("按单位", CONTRIBUTION_HEADERS, rows)


def _contribution_summary(report: ContributionsReport) -> Sheet:
    t = report.totals
    rows = [
        ("保障项目", report.plan_code),
        ("统计日", report.as_of),
        ("缴费截止日", report.enrol_until),
        ("单位数", t.units),
        ("欠缴单位数", t.units_owing),
        ("参保人次", t.enrollments),
        ("应缴金额", t.due),
        ("已缴金额", t.paid),
        ("欠缴金额", t.owed),
        ("预缴余额", t.credit),
        ("实收金额", t.received),
        ("未缴清人次", t.unpaid_enrollments),
        ("逾期天数", report.days_overdue),
    ]
    return Sheet("汇总", ("项目", "数值"), rows)


def export_contributions(report: ContributionsReport, fmt: str) -> Response:
    name = f"contributions-report-{report.plan_code}"
    if fmt == "csv":
        return csv_response(_contribution_units(report), name)
    return xlsx_response([_contribution_summary(report), _contribution_units(report)], name)
