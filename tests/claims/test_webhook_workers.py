"""Webhook workers side by side (replicas on one database): a delivery is claimed by one at a
time, and an outcome that comes after its lease ran out (the delivery claimed by another since)
is dropped, never recorded over the other's."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from claims_api.models import WebhookAttempt
from claims_api.webhooks import dispatch
from claims_api.webhooks.delivery import AttemptOutcome
from claims_api.webhooks.worker import WebhookWorker
from services.kit.clock import wall_now
from tests.claims.support_claims import enrolled_member, file_claim, hospital_stay
from tests.claims.support_webhooks import (
    app_worker_paused,
    deliveries_of,
    mark_dispatched,
    outbox_events,
    settings_changed,
    subscription,
    subscription_row,
)
from tests.dates import day
from tests.webhook_receiver import WebhookReceiver


async def attempts_of(app: FastAPI, delivery_id: str) -> list:
    table = WebhookAttempt.__table__
    async with app.state.database.engine.connect() as connection:
        query = select(table).where(table.c.delivery_id == delivery_id)
        return list((await connection.execute(query)).all())


async def a_claim(api: httpx.AsyncClient, app: FastAPI) -> dict:
    """A claim filed, its own event left out (the test writes the events it counts)."""
    claim = await file_claim(api, await enrolled_member(api), hospital_stay(day(3, 1), days=4))
    await mark_dispatched(app)
    return claim


async def test_an_outcome_after_the_lease_ran_out_is_dropped(
    hooks_api: httpx.AsyncClient, webhook_claims_app: FastAPI
) -> None:
    app, database = webhook_claims_app, webhook_claims_app.state.database
    settings = app.state.settings
    async with app_worker_paused(app):
        claim = await a_claim(hooks_api, app)
        hook = await subscription(app, "http://127.0.0.1:9/fenced")
        await outbox_events(app, claim, 1)
        await dispatch.fan_out(database, wall_now(), 10)

        first_claim = wall_now()
        [slow] = await dispatch.claim_due(database, settings, first_claim)
        # the first worker stalls past its lease: a second claims the delivery and delivers it
        lease = timedelta(seconds=dispatch.lease_seconds(settings, 1) + 1)
        [fast] = await dispatch.claim_due(database, settings, first_claim + lease)
        assert fast.id == slow.id
        delivered = await dispatch.record(
            database, settings, fast, AttemptOutcome(200, 5, None), wall_now()
        )
        late = await dispatch.record(
            database, settings, slow, AttemptOutcome(500, 900, "answered 500"), wall_now()
        )

        assert (delivered.outcome, late.outcome) == ("delivered", "stale")
        [delivery] = await deliveries_of(app, hook["id"])
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            "delivered",
            1,
            200,
        )
        assert [a.status_code for a in await attempts_of(app, delivery.id)] == [200]
        assert (await subscription_row(app, hook["id"])).failing_since is None


@pytest.mark.only(backend="postgres")
async def test_two_workers_deliver_a_backlog_once_each_to_a_slow_receiver(
    hooks_api: httpx.AsyncClient, webhook_claims_app: FastAPI, webhook_receiver: WebhookReceiver
) -> None:
    app = webhook_claims_app
    async with app_worker_paused(app):
        claim = await a_claim(hooks_api, app)
        await subscription(app, f"{webhook_receiver.url}/replicas")
        sent = set(await outbox_events(app, claim, 24))
        webhook_receiver.answer_after(0.4)
        with settings_changed(app, webhook_concurrency=3, webhook_attempt_timeout_seconds=1.0):
            workers = [
                WebhookWorker(app.state.database, app.state.settings, app.state.webhook_metrics)
                for _ in range(2)
            ]
            tasks = [asyncio.create_task(worker.run()) for worker in workers]
            try:
                await webhook_receiver.await_for(
                    lambda got: {r.headers["webhook-id"] for r in got if r.status == 200} >= sent,
                    within=30,
                )
                await asyncio.sleep(1.5)  # a second copy, were one sent, would come by now
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                for worker in workers:
                    await worker.client.aclose()
    ids = [r.headers["webhook-id"] for r in webhook_receiver.requests_to("/replicas")]
    assert sorted(ids) == sorted(sent)  # each once
