"""The worker's statements: fan-out of the outbox into deliveries, claiming the deliveries
due, recording each attempt. Each runs in a short transaction of its own; none is held while
a receiver is being waited for.

Claiming a delivery moves its `next_attempt_at` past the time its attempt can take (a lease):
no other worker (another replica) picks it up meanwhile, and should this process die with the
attempt in flight, the delivery falls due again when the lease runs out and is sent again (at
least once; the receiver tells a second copy by its `webhook-id`). On Postgres the rows are
claimed `FOR UPDATE SKIP LOCKED`, so replicas claiming at once take different rows; SQLite
has one process, whose write transactions are serialised anyway (BEGIN IMMEDIATE)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from claims_api.models import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from claims_api.settings import ClaimsSettings
from claims_api.webhooks.delivery import AttemptOutcome, DueDelivery
from claims_api.webhooks.schedule import (
    after_failure,
    failing_too_long,
    streak_gap_seconds,
    streak_start,
)
from services.kit.database import Database
from services.kit.ids import new_ids

events = WebhookEvent.__table__
subscriptions = WebhookSubscription.__table__
deliveries = WebhookDelivery.__table__
attempts = WebhookAttempt.__table__


def _matches(subscription: Any, event: Any) -> bool:
    return event.type in (subscription.events or ()) and (
        subscription.unit_id is None or subscription.unit_id == event.unit_id
    )


async def fan_out(database: Database, now: datetime, batch_size: int) -> int:
    """The oldest events not fanned out yet: one delivery per matching subscription (pending;
    failed, unsent, for a disabled one), and the events marked dispatched, in one transaction.
    Answers the events handled."""
    async with database.engine.begin() as connection:
        query = (
            select(events.c.id, events.c.type, events.c.unit_id)
            .where(events.c.dispatched_at.is_(None))
            .order_by(events.c.id)
            .limit(batch_size)
        )
        if not database.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        batch = (await connection.execute(query)).all()
        if not batch:
            return 0
        # A disabled subscription's deliveries are made too, failed at once (not sent, not
        # lost): once it is enabled again they are listed and sent again on request.
        listening = (
            await connection.execute(
                select(
                    subscriptions.c.id,
                    subscriptions.c.events,
                    subscriptions.c.unit_id,
                    subscriptions.c.enabled,
                ).where(subscriptions.c.deleted_at.is_(None))
            )
        ).all()
        pairs = [(e.id, s) for e in batch for s in listening if _matches(s, e)]
        if pairs:
            ids = new_ids("dlv", len(pairs))
            rows = [
                {
                    "id": delivery_id,
                    "event_id": event_id,
                    "subscription_id": subscription.id,
                    "status": "pending" if subscription.enabled else "failed",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for delivery_id, (event_id, subscription) in zip(ids, pairs, strict=True)
            ]
            dialect_insert = sqlite_insert if database.is_sqlite else postgres_insert
            # One delivery per event and subscription, even were an event fanned out twice.
            await connection.execute(dialect_insert(deliveries).on_conflict_do_nothing(), rows)
        await connection.execute(
            update(events).where(events.c.id.in_([e.id for e in batch])).values(dispatched_at=now)
        )
        return len(batch)


def claim_limit(settings: ClaimsSettings) -> int:
    """At most one delivery per sending slot is claimed in a round: each is sent at once, so
    its lease need only outlast one attempt, however long the backlog."""
    return min(settings.webhook_batch_size, settings.webhook_concurrency)


def lease_seconds(settings: ClaimsSettings, claimed: int) -> float:
    """How long claimed deliveries are kept from others: every claimed one's attempt (the
    destination check included: it runs within the attempt's timeout), sent
    `webhook_concurrency` at a time, plus one attempt's time to record the outcomes. Should
    a lease run out all the same (a stalled process), `record` drops the late outcome."""
    rounds = math.ceil(claimed / settings.webhook_concurrency)
    return settings.webhook_attempt_timeout_seconds * (rounds + 1) + 1


async def claim_due(
    database: Database, settings: ClaimsSettings, now: datetime
) -> list[DueDelivery]:
    enabled = and_(
        subscriptions.c.id == deliveries.c.subscription_id,
        subscriptions.c.enabled.is_(True),
        subscriptions.c.deleted_at.is_(None),
    )
    async with database.engine.begin() as connection:
        query = (
            select(deliveries.c.id)
            .join(subscriptions, enabled)
            .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.next_attempt_at)
            .limit(claim_limit(settings))
        )
        if not database.is_sqlite:
            query = query.with_for_update(of=deliveries, skip_locked=True)
        ids = list((await connection.execute(query)).scalars())
        if not ids:
            return []
        leased_until = now + timedelta(seconds=lease_seconds(settings, len(ids)))
        await connection.execute(
            update(deliveries).where(deliveries.c.id.in_(ids)).values(next_attempt_at=leased_until)
        )
        rows = await connection.execute(
            select(
                deliveries.c.id,
                deliveries.c.event_id,
                deliveries.c.subscription_id,
                deliveries.c.attempts,
                deliveries.c.created_at,
                subscriptions.c.url,
                subscriptions.c.secret,
                events.c.payload,
                deliveries.c.next_attempt_at.label("leased_until"),
            )
            .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
            .join(events, events.c.id == deliveries.c.event_id)
            .where(deliveries.c.id.in_(ids))
            .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        )
        return [DueDelivery(**row._mapping) for row in rows]


@dataclass(frozen=True)
class Recorded:
    outcome: str  # delivered | retried | failed | stale (the lease had run out: dropped)
    disabled_subscription: bool = False


async def record(
    database: Database,
    settings: ClaimsSettings,
    delivery: DueDelivery,
    outcome: AttemptOutcome,
    at: datetime,
) -> Recorded:
    """The outcome of an attempt, if the delivery is still this worker's: pending, with the
    lease this worker set. A lease run out (another worker has claimed the delivery since, or
    it was given up, disabled or sent again on request) drops the outcome: `stale`."""
    async with database.engine.begin() as connection:
        this_one = deliveries.c.id == delivery.id
        made = (
            await connection.execute(
                update(deliveries)
                .where(
                    this_one,
                    deliveries.c.status == "pending",
                    deliveries.c.next_attempt_at == delivery.leased_until,
                )
                .values(
                    attempts=deliveries.c.attempts + 1,
                    last_attempt_at=at,
                    last_status_code=outcome.status_code,
                )
                .returning(deliveries.c.attempts)
            )
        ).scalar_one_or_none()
        if made is None:
            return Recorded("stale")
        await connection.execute(
            insert(attempts).values(
                delivery_id=delivery.id,
                at=at,
                status_code=outcome.status_code,
                duration_ms=outcome.duration_ms,
                error=outcome.error,
            )
        )
        if outcome.delivered:
            await connection.execute(
                update(deliveries).where(this_one).values(status="delivered", delivered_at=at)
            )
            await connection.execute(
                update(subscriptions)
                .where(
                    subscriptions.c.id == delivery.subscription_id,
                    subscriptions.c.failing_since.is_not(None),
                )
                .values(failing_since=None, last_failure_at=None)
            )
            return Recorded("delivered")
        plan = after_failure(
            attempts=made,
            created_at=delivery.created_at,
            failed_at=at,
            delays_seconds=settings.webhook_retry_delays_seconds,
            give_up_after_seconds=settings.webhook_give_up_after_seconds,
        )
        if plan.next_attempt_at is None:
            values: dict[str, Any] = {"status": "failed"}
        else:
            values = {"next_attempt_at": plan.next_attempt_at}
        await connection.execute(update(deliveries).where(this_one).values(**values))
        disabled = await _note_failure(connection, settings, delivery.subscription_id, at)
        return Recorded("failed" if plan.next_attempt_at is None else "retried", disabled)


async def _note_failure(
    connection: AsyncConnection, settings: ClaimsSettings, subscription_id: str, at: datetime
) -> bool:
    """The streak of failures starts at the first, and again at a failure long after the
    previous one (schedule.streak_start); past the disable window it disables the subscription
    and fails its pending deliveries."""
    this_one = subscriptions.c.id == subscription_id
    found = (
        await connection.execute(
            select(
                subscriptions.c.failing_since,
                subscriptions.c.last_failure_at,
                subscriptions.c.enabled,
            )
            .where(this_one)
            .with_for_update()
        )
    ).one()
    gap = streak_gap_seconds(
        settings.webhook_retry_delays_seconds,
        settings.webhook_attempt_timeout_seconds,
        settings.webhook_poll_seconds,
    )
    since = streak_start(found.failing_since, found.last_failure_at, at, gap)
    latest = max(at, found.last_failure_at or at)
    await connection.execute(
        update(subscriptions).where(this_one).values(failing_since=since, last_failure_at=latest)
    )
    if not found.enabled or not failing_too_long(since, at, settings.webhook_disable_after_seconds):
        return False
    await connection.execute(
        update(subscriptions)
        .where(this_one, subscriptions.c.enabled.is_(True))
        .values(
            enabled=False,
            disabled_reason=(
                f"deliveries failed for {_duration(settings.webhook_disable_after_seconds)} "
                f"since {since.isoformat().replace('+00:00', 'Z')}"
            ),
            updated_at=at,
        )
    )
    # Nothing more is sent to it: what waits is failed now (each can be sent again on
    # request once the receiver is back and the subscription enabled).
    await connection.execute(
        update(deliveries)
        .where(deliveries.c.subscription_id == subscription_id, deliveries.c.status == "pending")
        .values(status="failed")
    )
    return True


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit[:-1] if count == 1 else unit}"
    return f"{seconds:g} seconds"


@dataclass(frozen=True)
class Backlog:
    waiting: int
    oldest: datetime | None


async def backlog(database: Database) -> Backlog:
    """Events not fanned out and deliveries pending (of subscriptions that can receive)."""
    async with database.reading_engine.connect() as connection:
        undispatched = (
            await connection.execute(
                select(func.count(), func.min(events.c.created_at)).where(
                    events.c.dispatched_at.is_(None)
                )
            )
        ).one()
        pending = (
            await connection.execute(
                select(func.count(), func.min(deliveries.c.created_at))
                .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
                .where(
                    deliveries.c.status == "pending",
                    subscriptions.c.enabled.is_(True),
                    subscriptions.c.deleted_at.is_(None),
                )
            )
        ).one()
    oldest: Sequence[datetime] = [t for t in (undispatched[1], pending[1]) if t is not None]
    return Backlog(undispatched[0] + pending[0], min(oldest) if oldest else None)
