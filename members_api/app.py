"""The member registry: units, workers, plans, enrolments, coverage, enrolment reports."""

from fastapi import FastAPI

from members_api.models import idempotency
from members_api.settings import MembersSettings
from members_api.units.routes import router as units_router
from services.app import create_service_app


def create_app(settings: MembersSettings | None = None) -> FastAPI:
    return create_service_app(
        service="members",
        title="mutualaid member registry",
        description="Units, workers, plans, enrolments and coverage.",
        settings=settings or MembersSettings(),
        routers=[units_router],
        idempotency_table=idempotency,
    )
