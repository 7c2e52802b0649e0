from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from claims_api.claims.schemas import ClaimSource
from claims_api.reports import exports, service
from claims_api.reports.schemas import ClaimsReport
from services.kit.access import AdminOrAuditor
from services.kit.database import SessionDep
from services.kit.dates import SchemeDate
from services.kit.exports import XLSX_TYPE, ExportFormat

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
# A plan's code (services.kit.plan_rules.Code); it also names the exported file.
PLAN_CODE_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"


@router.get(
    "/claims",
    summary="Claims per plan and paid-date range (admin, auditor); ?format=csv|xlsx",
    response_model=ClaimsReport,
    responses={200: {"content": {"text/csv": {}, XLSX_TYPE: {}}}},
)
async def claims_report(
    session: SessionDep,
    principal: AdminOrAuditor,
    plan_code: Annotated[str | None, Query(pattern=PLAN_CODE_PATTERN)] = None,
    paid_from: SchemeDate | None = None,
    paid_to: SchemeDate | None = None,
    source: Annotated[
        ClaimSource | None,
        Query(description="only claims filed by people, or made from settlement data"),
    ] = None,
    format: ExportFormat = "json",
) -> ClaimsReport | Response:
    report = await service.claims_report(session, principal, plan_code, paid_from, paid_to, source)
    return report if format == "json" else exports.export(report, format)
