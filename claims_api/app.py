"""The claims service: submission, payout engine, review, payment ledger, claims reports."""

from fastapi import FastAPI

from claims_api.claims.routes import router as claims_router
from claims_api.documents.dependencies import close_document_store, open_document_store
from claims_api.documents.routes import UPLOAD_PATH
from claims_api.documents.routes import router as documents_router
from claims_api.members_client import close_members_client, open_members_client
from claims_api.models import audit_event, idempotency
from claims_api.payouts.routes import router as payouts_router
from claims_api.reports.routes import router as reports_router
from claims_api.settings import ClaimsSettings
from claims_api.settlement.routes import IMPORT_PATH
from claims_api.settlement.routes import router as settlement_router
from claims_api.webhooks.deliveries_routes import router as webhook_deliveries_router
from claims_api.webhooks.metrics import WebhookMetrics
from claims_api.webhooks.routes import router as webhooks_router
from claims_api.webhooks.worker import start_webhook_worker, stop_webhook_worker
from services.kit.app import create_service_app
from services.kit.audit import audit_router
from services.kit.routing import entities_of


def create_app(settings: ClaimsSettings | None = None) -> FastAPI:
    app = create_service_app(
        service="claims",
        title="mutualaid claims",
        description="Claims, payouts, review and the payment ledger.",
        settings=settings or ClaimsSettings(),
        routers=[
            settlement_router,
            claims_router,
            documents_router,
            payouts_router,
            reports_router,
            webhook_deliveries_router,
            webhooks_router,
            audit_router(audit_event, entities_of("claims")),
        ],
        idempotency_table=idempotency,
        on_startup=_start,
        on_shutdown=_stop,
        # The uploads refuse a body over their limits themselves (a document naming the rule;
        # the settlement import by its route's max_body_size).
        upload_prefixes=(IMPORT_PATH,),
        upload_patterns=(UPLOAD_PATH,),
        readiness={"document_store": _check_document_store},
    )
    app.state.webhook_metrics = WebhookMetrics(app.state.metrics)
    return app


async def _check_document_store(app: FastAPI) -> None:
    await app.state.document_store.check()


async def _start(app: FastAPI) -> None:
    await open_members_client(app)
    await open_document_store(app)
    await start_webhook_worker(app)


async def _stop(app: FastAPI) -> None:
    try:
        await stop_webhook_worker(app)
    finally:
        try:
            await close_document_store(app)
        finally:
            await close_members_client(app)
