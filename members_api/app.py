"""The member registry: units, workers, plans, enrolments, coverage, enrolment reports."""

from fastapi import FastAPI

from members_api.bulk import MAX_UPLOAD_BYTES
from members_api.contributions.routes import router as contributions_router
from members_api.coverage.routes import router as coverage_router
from members_api.enrollments.routes import router as enrollments_router
from members_api.members.routes import router as members_router
from members_api.models import audit_event, idempotency
from members_api.payout_accounts.routes import router as payout_accounts_router
from members_api.plans.routes import router as plans_router
from members_api.reports.routes import router as reports_router
from members_api.settings import MembersSettings
from members_api.units.routes import router as units_router
from services.kit.app import create_service_app
from services.kit.audit import audit_router
from services.kit.routing import entities_of

# Bulk routes: exempt from the 2 MiB body limit; theirs is MAX_UPLOAD_BYTES (members_api.bulk),
# checked here on a declared Content-Length and by each route on what it reads.
UPLOAD_PREFIXES = (
    "/api/v1/enrollments/batch",
    "/api/v1/enrollments/import",
    "/api/v1/members/leaving",
)


def create_app(settings: MembersSettings | None = None) -> FastAPI:
    return create_service_app(
        service="members",
        title="mutualaid member registry",
        description="Units, workers, plans, enrolments and coverage.",
        settings=settings or MembersSettings(),
        routers=[
            units_router,
            members_router,
            plans_router,
            enrollments_router,
            coverage_router,
            contributions_router,
            payout_accounts_router,
            reports_router,
            audit_router(audit_event, entities_of("members")),
        ],
        idempotency_table=idempotency,
        upload_prefixes=UPLOAD_PREFIXES,
        upload_max_bytes=MAX_UPLOAD_BYTES,
    )
