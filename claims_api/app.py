"""The claims service: submission, payout engine, review, payment ledger, claims reports."""

from fastapi import FastAPI

from claims_api.models import idempotency
from claims_api.settings import ClaimsSettings
from services.app import create_service_app


def create_app(settings: ClaimsSettings | None = None) -> FastAPI:
    return create_service_app(
        service="claims",
        title="mutualaid claims",
        description="Claims, payouts, review and the payment ledger.",
        settings=settings or ClaimsSettings(),
        routers=[],
        idempotency_table=idempotency,
    )
