from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from members_api.plans.schemas import CODE_PATTERN
from members_api.reports import exports, service
from members_api.reports.schemas import ContributionsReport, EnrollmentReport
from services.kit.access import AdminOrAuditor, ReportReaderWithFinance
from services.kit.database import SessionDep
from services.kit.exports import XLSX_TYPE, ExportFormat

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.get(
    "/enrollment",
    summary="Enrolment per plan, or per line and year (admin, auditor); ?format=csv|xlsx",
    response_model=EnrollmentReport,
    responses={200: {"content": {"text/csv": {}, XLSX_TYPE: {}}}},
)
async def enrollment_report(
    session: SessionDep,
    principal: AdminOrAuditor,
    plan_code: Annotated[
        str | None, Query(pattern=CODE_PATTERN, description="e.g. MED-2026; or line and year")
    ] = None,
    line: Annotated[str | None, Query(pattern=CODE_PATTERN, description="e.g. MED")] = None,
    year: Annotated[
        int | None, Query(ge=1990, le=2200, description="the year cover starts, with line")
    ] = None,
    format: ExportFormat = "json",
) -> EnrollmentReport | Response:
    report = await service.enrollment_report(session, principal, plan_code, line, year)
    return report if format == "json" else exports.export(report, format)


@router.get(
    "/contributions",
    summary="Contributions per plan: due, paid, owed, credit per unit (admin, auditor, finance); "
    "?format=csv|xlsx",
    response_model=ContributionsReport,
    responses={200: {"content": {"text/csv": {}, XLSX_TYPE: {}}}},
)
async def contributions_report(
    session: SessionDep,
    principal: ReportReaderWithFinance,
    plan_code: Annotated[str, Query(pattern=CODE_PATTERN, description="e.g. MED-2026")],
    format: ExportFormat = "json",
) -> ContributionsReport | Response:
    report = await service.contributions_report(session, principal, plan_code)
    return report if format == "json" else exports.export_contributions(report, format)
