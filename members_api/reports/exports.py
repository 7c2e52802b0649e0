"""The enrolment report as spreadsheets: per-unit rows and a total row in CSV; summary and
units as two sheets in XLSX. Chinese headers, as the federation's auditors read them."""

from fastapi.responses import Response

from members_api.reports.schemas import EnrollmentReport
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
        )
        for u in report.by_unit
    ]
    total = ("合计", "", "", report.person_times, report.members, report.contributions, "", "")
    rows.append(total)
    return Sheet("按单位", UNIT_HEADERS, rows)


def _summary_sheet(report: EnrollmentReport) -> Sheet:
    rows = [
        ("保障项目", "、".join(report.plan_codes)),
        ("参保单位数", report.units),
        ("参保人次", report.person_times),
        ("参保人数", report.members),
        ("应缴互助金", report.contributions),
        ("参保率低于80%的单位数", report.units_below_80_percent),
    ]
    return Sheet("汇总", ("项目", "数值"), rows)


def export(report: EnrollmentReport, fmt: str) -> Response:
    name = f"enrollment-report-{'-'.join(report.plan_codes)}"
    if fmt == "csv":
        return csv_response(_units_sheet(report), name)
    return xlsx_response([_summary_sheet(report), _units_sheet(report)], name)
