"""The claims report as spreadsheets: per-unit rows and a total row in CSV; summary, units and
rejections as three sheets in XLSX."""

from fastapi.responses import Response

from claims_api.reports.schemas import ClaimsReport
from services.kit.exports import Sheet, csv_response, xlsx_response

UNIT_HEADERS = ("单位编号", "赔付人数", "赔付人次", "赔付金额", "人均赔付", "最高单笔")


def _units_sheet(report: ClaimsReport) -> Sheet:
    rows = [
        (u.unit_id, u.claimants, u.claims, u.total_paid, u.average_per_claimant, u.largest_payout)
        for u in report.by_unit
    ]
    rows.append(
        (
            "合计",
            report.claimants,
            report.claims,
            report.total_paid,
            report.average_per_claimant,
            report.largest_payout,
        )
    )
    return Sheet("按单位", UNIT_HEADERS, rows)


def _summary_sheet(report: ClaimsReport) -> Sheet:
    rows = [
        ("保障项目", report.plan_code or "全部"),
        ("给付起始日", report.paid_from),
        ("给付截止日", report.paid_to),
        ("来源", {"filed": "申请", "settlement": "结算数据"}.get(report.source or "", "全部")),
        ("赔付单位数", report.units),
        ("赔付人数", report.claimants),
        ("赔付人次", report.claims),
        ("赔付总额", report.total_paid),
        ("人均赔付", report.average_per_claimant),
        ("次均赔付", report.average_per_claim),
        ("最高单笔", report.largest_payout),
        ("给付天数中位数", report.median_days_to_pay),
        ("银行退回笔数", report.returned_payments),
        ("银行退回金额", report.returned_total),
    ]
    return Sheet("汇总", ("项目", "数值"), rows)


def _rejections_sheet(report: ClaimsReport) -> Sheet:
    return Sheet("拒赔原因", ("原因代码", "件数"), sorted(report.rejections.items()))


def export(report: ClaimsReport, fmt: str) -> Response:
    name = f"claims-report-{report.plan_code or 'all'}"
    if fmt == "csv":
        return csv_response(_units_sheet(report), name)
    return xlsx_response(
        [_summary_sheet(report), _units_sheet(report), _rejections_sheet(report)], name
    )
