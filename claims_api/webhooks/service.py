"""Webhook subscriptions: made, read, changed and deleted by admin (any unit, or every unit)
and by hr (its own unit only: another unit's subscription is answered 404, as its claims are).
Each change is audited in its transaction, never with the secret."""

import base64
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.audit import audit
from claims_api.models import WebhookSubscription
from claims_api.webhooks.schemas import WebhookCreate, WebhookCreated, WebhookRead, WebhookUpdate
from claims_api.webhooks.urls import DestinationRefused, check_destination
from services.kit.auth import Principal, Role
from services.kit.clock import now
from services.kit.errors import InvalidInput, NotFound
from services.kit.ids import new_id
from services.kit.pagination import PageParams

ENTITY = "webhook_subscription"
REASON_LENGTH = 200  # webhook_subscription.disabled_reason


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def shown(subscription: WebhookSubscription) -> dict[str, Any]:
    """What the audit log and the reads show: everything but the secret."""
    return WebhookRead.model_validate(subscription).model_dump(mode="json")


async def _checked_url(url: str, settings: Any) -> str:
    try:
        await check_destination(url, settings)
    except DestinationRefused as refused:
        raise InvalidInput(["url"], str(refused)) from None
    return url


def _unit_of_new(principal: Principal, unit_id: str | None) -> str | None:
    if principal.role != Role.hr:
        return unit_id
    if unit_id is not None and unit_id != principal.unit_id:
        raise NotFound(f"unit {unit_id} not found")
    return principal.unit_id


def _may_see(principal: Principal, subscription: WebhookSubscription) -> bool:
    if subscription.deleted_at is not None:
        return False
    if principal.role == Role.hr:
        return subscription.unit_id is not None and subscription.unit_id == principal.unit_id
    return principal.role == Role.admin


async def create(
    session: AsyncSession, principal: Principal, body: WebhookCreate, settings: Any
) -> WebhookCreated:
    unit_id = _unit_of_new(principal, body.unit_id)
    url = await _checked_url(body.url, settings)
    at = now()
    subscription = WebhookSubscription(
        id=new_id("whk"),
        url=url,
        events=list(body.events),
        unit_id=unit_id,
        secret=new_secret(),
        enabled=True,
        created_by=principal.sub,
        created_role=principal.role.value,
        created_at=at,
        updated_at=at,
    )
    session.add(subscription)
    await session.flush()
    await audit.record(
        session,
        principal,
        action="webhook.create",
        entity=ENTITY,
        entity_id=subscription.id,
        after=shown(subscription),
    )
    return WebhookCreated(**shown(subscription), secret=subscription.secret)


async def get(
    session: AsyncSession, principal: Principal, subscription_id: str, *, for_update: bool = False
) -> WebhookSubscription:
    """The subscription, if `principal` may see it (404 otherwise: another unit's or deleted).
    Also what the deliveries' routes look their subscription up with."""
    subscription = await session.get(
        WebhookSubscription, subscription_id, with_for_update=for_update
    )
    if subscription is None or not _may_see(principal, subscription):
        raise NotFound(f"webhook subscription {subscription_id} not found")
    return subscription


async def list_subscriptions(
    session: AsyncSession, principal: Principal, page: PageParams, *, unit_id: str | None
) -> list[WebhookSubscription]:
    query = (
        select(WebhookSubscription)
        .where(WebhookSubscription.deleted_at.is_(None))  # type: ignore[union-attr]
        .order_by(WebhookSubscription.id)
        .limit(page.limit + 1)
    )
    if principal.role == Role.hr:
        query = query.where(WebhookSubscription.unit_id == principal.unit_id)
    if unit_id is not None:
        query = query.where(WebhookSubscription.unit_id == unit_id)
    if page.after_id:
        query = query.where(WebhookSubscription.id > page.after_id)
    return list((await session.scalars(query)).all())


async def update(
    session: AsyncSession,
    principal: Principal,
    subscription_id: str,
    body: WebhookUpdate,
    settings: Any,
) -> WebhookRead:
    subscription = await get(session, principal, subscription_id, for_update=True)
    before = shown(subscription)
    if body.url is not None:
        subscription.url = await _checked_url(body.url, settings)
    if body.events is not None:
        subscription.events = list(body.events)
    if body.enabled is True:
        # a fresh start: the worker counts the failing streak again from the next failure
        subscription.enabled = True
        subscription.disabled_reason = None
        subscription.failing_since = None
        subscription.last_failure_at = None
    elif body.enabled is False and subscription.enabled:
        subscription.enabled = False
        # the column holds 200: a long `sub` (an OIDC subject) is cut, never a 500
        subscription.disabled_reason = f"disabled by {principal.sub}"[:REASON_LENGTH]
    subscription.updated_at = now()
    await session.flush()
    await audit.record(
        session,
        principal,
        action="webhook.update",
        entity=ENTITY,
        entity_id=subscription.id,
        before=before,
        after=shown(subscription),
    )
    return WebhookRead.model_validate(subscription)


async def delete(session: AsyncSession, principal: Principal, subscription_id: str) -> None:
    """Kept, with its deliveries, for the audit: deleted_at set, nothing sent any more."""
    subscription = await get(session, principal, subscription_id, for_update=True)
    before = shown(subscription)
    at: datetime = now()
    subscription.enabled = False
    subscription.deleted_at = at
    subscription.updated_at = at
    await session.flush()
    await audit.record(
        session,
        principal,
        action="webhook.delete",
        entity=ENTITY,
        entity_id=subscription.id,
        before=before,
    )
