"""Webhook tests' claims service: its own app and database (per backend) whose worker polls
every 50 ms and retries after a tenth of a second, a loopback receiver (tests.webhook_receiver),
and subscriptions and outbox events to deliver."""

import base64
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select, update

from claims_api.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from claims_api.webhooks.outbox import event_row
from services.kit.clock import now, today
from services.kit.ids import new_id, new_ids
from tests.databases import postgres_database, wipe

FAST = {
    "webhook_poll_seconds": 0.05,
    "webhook_attempt_timeout_seconds": 1.0,
    "webhook_retry_delays_seconds": (0.1, 0.2, 0.3),
    "webhook_give_up_after_seconds": 3600.0,
    "webhook_disable_after_seconds": 3600.0,
}


@pytest.fixture(scope="session")
async def webhook_claims_app(
    backend: str, session_tmp: Path, members_app: FastAPI, document_store_settings: dict[str, str]
) -> AsyncIterator[FastAPI]:
    from claims_api.app import create_app
    from claims_api.models import metadata
    from claims_api.settings import ClaimsSettings

    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{session_tmp / 'claims-webhooks.db'}"
    else:
        url = await postgres_database("claims", "_webhooks")
    settings = ClaimsSettings(
        database_url=url, environment="test", **document_store_settings, **FAST
    )
    app = create_app(settings)
    app.state.metadata = metadata
    app.state.members_transport = httpx.ASGITransport(app=members_app)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def hooks_api(
    members_app: FastAPI, webhook_claims_app: FastAPI
) -> AsyncIterator[httpx.AsyncClient]:
    """The public API (gateway table) over the webhook tests' claims service, emptied."""
    from services.stack.gateway.embedded import EmbeddedGateway

    await wipe(members_app)
    await wipe(webhook_claims_app)
    gateway = EmbeddedGateway(FastAPI(), {"members": members_app, "claims": webhook_claims_app})
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@asynccontextmanager
async def app_worker_paused(app: FastAPI) -> AsyncIterator[None]:
    """The app's own webhook worker stopped for the block (a test drives workers itself),
    started again after it."""
    from claims_api.webhooks.worker import start_webhook_worker, stop_webhook_worker

    await stop_webhook_worker(app)
    try:
        yield
    finally:
        await start_webhook_worker(app)


@contextmanager
def settings_changed(app: FastAPI, **changes: Any) -> Iterator[None]:
    """The worker reads its settings at each round: changed for one test, then put back."""
    settings = app.state.settings
    before = {name: getattr(settings, name) for name in changes}
    for name, value in changes.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(settings, name, value)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def subscription(
    app: FastAPI,
    url: str,
    events: list[str] | None = None,
    unit_id: str | None = None,
) -> dict[str, Any]:
    at = now()
    row = {
        "id": new_id("whk"),
        "url": url,
        "events": events or ["claim.filed", "claim.approved"],
        "unit_id": unit_id,
        "secret": new_secret(),
        "enabled": True,
        "created_by": "admin-test",
        "created_role": "admin",
        "created_at": at,
        "updated_at": at,
    }
    async with app.state.database.engine.begin() as connection:
        await connection.execute(insert(WebhookSubscription.__table__).values(**row))
    return row


async def filed_event(app: FastAPI, claim: dict[str, Any]) -> Any:
    """The claim.filed event of `claim` (an API answer) in the outbox: the one filing wrote,
    or (the outbox not written by filing yet) one written here as filing would."""
    table = WebhookEvent.__table__
    async with app.state.database.engine.connect() as connection:
        found = (
            await connection.execute(
                select(table).where(table.c.claim_id == claim["id"], table.c.type == "claim.filed")
            )
        ).first()
    if found is not None:
        return found._mapping
    return await outbox_event(app, claim)


async def outbox_event(
    app: FastAPI, claim: dict[str, Any], status: str = "submitted", previous: str | None = None
) -> dict[str, Any]:
    """An event of `claim` (an API answer) in the outbox, as filing writes it."""
    columns = {
        "id": claim["id"],
        "member_id": claim["member_id"],
        "unit_id": claim.get("unit_id"),
        "plan_code": claim["plan_code"],
        "payable": Decimal(claim.get("payable") or "0"),
        "event_on": None,
        "filed_on": today(),
        "approved_at": None,
        "paid_on": None,
        "source": "filed",
        "reason_codes": [],
    }
    row = event_row(columns, status=status, previous_status=previous, at=now())
    assert row is not None
    async with app.state.database.engine.begin() as connection:
        await connection.execute(insert(WebhookEvent.__table__).values(**row))
    return row


async def subscription_row(app: FastAPI, subscription_id: str) -> Any:
    async with app.state.database.engine.connect() as connection:
        table = WebhookSubscription.__table__
        return (await connection.execute(select(table).where(table.c.id == subscription_id))).one()


async def deliveries_of(app: FastAPI, subscription_id: str) -> list[Any]:
    async with app.state.database.engine.connect() as connection:
        table = WebhookDelivery.__table__
        query = select(table).where(table.c.subscription_id == subscription_id)
        return list((await connection.execute(query)).all())


async def mark_dispatched(app: FastAPI) -> None:
    """Events already in the outbox (filing a claim writes one) left out of a test's count."""
    table = WebhookEvent.__table__
    async with app.state.database.engine.begin() as connection:
        await connection.execute(
            update(table).where(table.c.dispatched_at.is_(None)).values(dispatched_at=now())
        )


async def outbox_events(app: FastAPI, claim: dict[str, Any], count: int) -> list[str]:
    """`count` events of `claim` (an API answer) written straight to the outbox (a backlog):
    their ids."""
    at = now()
    rows = [
        {
            "id": event_id,
            "type": "claim.filed",
            "claim_id": claim["id"],
            "unit_id": claim.get("unit_id"),
            "member_id": claim["member_id"],
            "payload": {"type": "claim.filed", "timestamp": at.isoformat(), "data": {}},
            "created_at": at,
            "dispatched_at": None,
        }
        for event_id in new_ids("evt", count)
    ]
    async with app.state.database.engine.begin() as connection:
        await connection.execute(insert(WebhookEvent.__table__), rows)
    return [row["id"] for row in rows]


async def delivered_delivery(
    app: FastAPI, unit_id: str, claim_id: str, member_id: str, url: str = "http://127.0.0.1:9/"
) -> tuple[str, str]:
    """A unit's subscription and one delivered delivery of an event of `claim_id`, written
    straight to the claims database (the access matrix's records): (subscription, delivery)."""
    hook = await subscription(app, url, unit_id=unit_id)
    at = now()
    event = {
        "id": new_id("evt"),
        "type": "claim.filed",
        "claim_id": claim_id,
        "unit_id": unit_id,
        "member_id": member_id,
        "payload": {"type": "claim.filed", "timestamp": at.isoformat(), "data": {}},
        "created_at": at,
        "dispatched_at": at,
    }
    delivery = {
        "id": new_id("dlv"),
        "event_id": event["id"],
        "subscription_id": hook["id"],
        "status": "delivered",
        "attempts": 1,
        "next_attempt_at": at,
        "last_attempt_at": at,
        "last_status_code": 200,
        "created_at": at,
        "delivered_at": at,
    }
    async with app.state.database.engine.begin() as connection:
        await connection.execute(insert(WebhookEvent.__table__).values(**event))
        await connection.execute(insert(WebhookDelivery.__table__).values(**delivery))
    return hook["id"], delivery["id"]
