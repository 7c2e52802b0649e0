"""Webhook subscriptions (API.md: admin, hr its own unit). What is sent to them, and sending
again, are the deliveries' routes (claims_api.webhooks, delivery side)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from claims_api.settings import ClaimsSettings
from claims_api.webhooks import service
from claims_api.webhooks.schemas import WebhookCreate, WebhookCreated, WebhookRead, WebhookUpdate
from services.kit.access import AdminOrHr
from services.kit.database import SessionDep
from services.kit.idempotency import IdempotencyDep
from services.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


async def _settings(request: Request) -> ClaimsSettings:
    return request.app.state.settings


SettingsDep = Annotated[ClaimsSettings, Depends(_settings)]
URL_RULES = (
    "The URL must be https (http only to this machine, and not in production) and may not "
    "point at a private, loopback, link-local, multicast or reserved address, nor carry a "
    "user name or password: 422 naming `url`."
)


@router.post(
    "",
    status_code=201,
    summary="Subscribe a URL to claim events (admin; hr for its own unit)",
    description="The answer shows the signing secret (`secret`, Standard Webhooks) once; no "
    "later read shows it, nor a replay of the answer (Idempotency-Key: `secret` null, "
    "`secret_shown` false; a lost secret: delete and create again). hr's subscription is "
    f"always its own unit's; admin names a unit or none (every unit's claims). {URL_RULES}",
)
async def create_webhook(
    body: WebhookCreate,
    session: SessionDep,
    principal: AdminOrHr,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
) -> WebhookCreated:
    created = await service.create(session, principal, body, settings)
    await idempotency.remember(201, created.as_stored())
    return created


@router.get("", summary="Webhook subscriptions (admin; hr: its own unit's)")
async def list_webhooks(
    session: SessionDep,
    principal: AdminOrHr,
    page: PageDep,
    unit_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[WebhookRead]:
    rows = await service.list_subscriptions(session, principal, page, unit_id=unit_id)
    return Page[WebhookRead](**page.page(rows, [WebhookRead.model_validate(r) for r in rows]))


@router.get("/{webhook_id}", summary="One webhook subscription (without its secret)")
async def get_webhook(webhook_id: str, session: SessionDep, principal: AdminOrHr) -> WebhookRead:
    return WebhookRead.model_validate(await service.get(session, principal, webhook_id))


@router.patch(
    "/{webhook_id}",
    summary="Change a subscription's URL or events, disable or re-enable it",
    description=f"Re-enabling clears `disabled_reason` and `failing_since`. {URL_RULES}",
)
async def update_webhook(
    webhook_id: str,
    body: WebhookUpdate,
    session: SessionDep,
    principal: AdminOrHr,
    settings: SettingsDep,
) -> WebhookRead:
    return await service.update(session, principal, webhook_id, body, settings)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    summary="Delete a subscription: nothing more is sent; its deliveries stay for the audit",
)
async def delete_webhook(webhook_id: str, session: SessionDep, principal: AdminOrHr) -> Response:
    await service.delete(session, principal, webhook_id)
    return Response(status_code=204)
