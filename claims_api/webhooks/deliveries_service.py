"""Deliveries of one subscription: listed with their attempts, and sent again on request.
Scope: admin every subscription, hr only its unit's (another's is not found)."""

from collections import defaultdict
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api import problems
from claims_api.audit import audit
from claims_api.models import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from claims_api.webhooks.deliveries_schemas import AttemptRead, DeliveryRead
from services.kit.auth import Principal, Role
from services.kit.clock import wall_now
from services.kit.errors import NotFound
from services.kit.pagination import PageParams

# An attempt log past this is cut to its latest entries in the listing (a delivery retried
# for three days has about twenty).
ATTEMPTS_SHOWN = 50
# A delivery fails without an attempt only through its subscription's being disabled: made
# failed for an event that came while it was, or failed with the others when it was.
NOT_SENT = "not sent: the subscription was disabled; send it again once it is enabled"


async def visible_subscription(
    session: AsyncSession, principal: Principal, subscription_id: str
) -> WebhookSubscription:
    subscription = await session.get(WebhookSubscription, subscription_id)
    if subscription is None or subscription.deleted_at is not None:
        raise NotFound("webhook subscription not found")
    if principal.role != Role.admin:
        principal.check_unit(subscription.unit_id, "webhook subscription")
    return subscription


async def list_deliveries(
    session: AsyncSession, principal: Principal, subscription_id: str, page: PageParams
) -> tuple[list[Any], list[DeliveryRead]]:
    await visible_subscription(session, principal, subscription_id)
    query = (
        select(WebhookDelivery, WebhookEvent.type, WebhookEvent.claim_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(WebhookDelivery.id)
        .limit(page.limit + 1)
    )
    if page.after_id:
        query = query.where(WebhookDelivery.id > page.after_id)
    rows = (await session.execute(query)).all()
    logs = await _attempts(session, [row[0].id for row in rows[: page.limit]])
    return [row[0] for row in rows], [
        _read(delivery, event_type, claim_id, logs.get(delivery.id, []))
        for delivery, event_type, claim_id in rows
    ]


async def _attempts(session: AsyncSession, delivery_ids: list[str]) -> dict[str, list[AttemptRead]]:
    logs: dict[str, list[AttemptRead]] = defaultdict(list)
    if not delivery_ids:
        return logs
    found = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)
    )
    for attempt in found:
        logs[attempt.delivery_id].append(AttemptRead.model_validate(attempt, from_attributes=True))
    return {key: value[-ATTEMPTS_SHOWN:] for key, value in logs.items()}


def _read(
    delivery: WebhookDelivery, event_type: str, claim_id: str, log: list[AttemptRead]
) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        subscription_id=delivery.subscription_id,
        event_id=delivery.event_id,
        event_type=event_type,
        claim_id=claim_id,
        status=delivery.status,  # type: ignore[arg-type]
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        last_attempt_at=delivery.last_attempt_at,
        last_status_code=delivery.last_status_code,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        note=NOT_SENT if delivery.status == "failed" and delivery.attempts == 0 else None,
        attempt_log=log,
    )


async def retry_delivery(
    session: AsyncSession, principal: Principal, subscription_id: str, delivery_id: str
) -> DeliveryRead:
    """Sent again as soon as the worker next looks; the attempts made stay in its log. Its
    give-up stays counted from its creation: a failed delivery sent again after its three
    days gets that one attempt (send it again once the receiver is back)."""
    await visible_subscription(session, principal, subscription_id)
    found = (
        await session.execute(
            select(WebhookDelivery, WebhookEvent.type, WebhookEvent.claim_id)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.subscription_id == subscription_id,
            )
            .with_for_update(of=WebhookDelivery)
        )
    ).first()
    if found is None:
        raise NotFound("delivery not found")
    delivery, event_type, claim_id = found
    if delivery.status == "pending":
        raise problems.DELIVERY_PENDING.error(
            f"delivery {delivery_id} is pending: its next attempt is due at "
            f"{delivery.next_attempt_at.isoformat()}"
        )
    before = {"status": delivery.status, "attempts": delivery.attempts}
    now = wall_now()
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(status="pending", next_attempt_at=now, delivered_at=None)
    )
    await audit.record(
        session,
        principal,
        action="webhook_delivery.retry",
        entity="webhook_delivery",
        entity_id=delivery_id,
        before=before,
        after={"status": "pending", "next_attempt_at": now.isoformat()},
    )
    await session.refresh(delivery)
    logs = await _attempts(session, [delivery_id])
    return _read(delivery, event_type, claim_id, logs.get(delivery_id, []))
