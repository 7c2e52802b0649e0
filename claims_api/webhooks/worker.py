"""The webhook worker: a background task in each claims process (started and stopped with
the app, claims_api.app), never on a request's path. Each round it fans new events out into
deliveries, claims the deliveries due, sends them `webhook_concurrency` at a time with its own
HTTP client, and records each attempt (claims_api.webhooks.dispatch). Idle, it sleeps
`webhook_poll_seconds`; with a backlog it goes on at once.

Its database use is bounded: a claim or a fan-out holds one connection, each delivery in
flight one only while its outcome is recorded, so at most `webhook_concurrency` + 1
connections (the settings keep that under a quarter of the pool)."""

import asyncio
import contextlib

import httpx
import structlog
from fastapi import FastAPI

from claims_api.settings import ClaimsSettings
from claims_api.webhooks import dispatch
from claims_api.webhooks.delivery import DueDelivery, attempt, webhook_client
from claims_api.webhooks.metrics import WebhookMetrics
from services.kit.clock import wall_now
from services.kit.database import Database

log = structlog.get_logger("mutualaid.webhooks")


class WebhookWorker:
    def __init__(
        self,
        database: Database,
        settings: ClaimsSettings,
        metrics: WebhookMetrics,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.database, self.settings, self.metrics = database, settings, metrics
        self.client = client or webhook_client(settings)
        self._sending = asyncio.Semaphore(settings.webhook_concurrency)
        self._gauges_at = 0.0

    async def run_once(self) -> int:
        """One round; answers how many events and deliveries it handled."""
        handled = await dispatch.fan_out(
            self.database, wall_now(), self.settings.webhook_batch_size
        )
        due = await dispatch.claim_due(self.database, self.settings, wall_now())
        if due:
            # one delivery's surprise never keeps the others of the batch from being recorded
            results = await asyncio.gather(
                *(self._deliver(delivery) for delivery in due), return_exceptions=True
            )
            for delivery, result in zip(due, results, strict=True):
                if isinstance(result, Exception):
                    log.error(
                        "webhook_delivery_crashed",
                        delivery_id=delivery.id,
                        error=f"{type(result).__name__}: {result}",
                    )
        await self._refresh_gauges(force=not (handled or due))
        return handled + len(due)

    async def run(self) -> None:
        while True:
            try:
                handled = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: try again after a pause, never die
                log.warning("webhook_worker_round_failed", error=f"{type(exc).__name__}: {exc}")
                handled = 0
            if not handled:
                await asyncio.sleep(self.settings.webhook_poll_seconds)

    async def _deliver(self, delivery: DueDelivery) -> None:
        async with self._sending:
            at = wall_now()
            outcome = await attempt(self.client, delivery, self.settings, int(at.timestamp()))
            self.metrics.attempt_duration.observe(outcome.duration_ms / 1000)
            try:
                recorded = await dispatch.record(
                    self.database, self.settings, delivery, outcome, at
                )
            except Exception as exc:  # not recorded: the lease runs out, it is sent again
                log.warning(
                    "webhook_attempt_not_recorded",
                    delivery_id=delivery.id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                return
        if recorded.outcome == "stale":
            log.warning(
                "webhook_attempt_outcome_dropped",
                delivery_id=delivery.id,
                reason="its lease ran out: another worker has it now",
                status_code=outcome.status_code,
            )
            return
        self.metrics.deliveries.labels(recorded.outcome).inc()
        if recorded.outcome != "delivered":
            log.info(
                "webhook_delivery_failed",
                delivery_id=delivery.id,
                subscription_id=delivery.subscription_id,
                outcome=recorded.outcome,
                status_code=outcome.status_code,
                error=outcome.error,
            )
        if recorded.disabled_subscription:
            log.warning("webhook_subscription_disabled", subscription_id=delivery.subscription_id)

    async def _refresh_gauges(self, force: bool) -> None:
        """At most once per poll interval while busy (two counts), at every idle round."""
        loop = asyncio.get_running_loop()
        if not force and loop.time() - self._gauges_at < self.settings.webhook_poll_seconds:
            return
        self._gauges_at = loop.time()
        backlog = await dispatch.backlog(self.database)
        self.metrics.backlog.set(backlog.waiting)
        age = 0.0 if backlog.oldest is None else (wall_now() - backlog.oldest).total_seconds()
        self.metrics.oldest_pending_age.set(max(age, 0.0))


async def start_webhook_worker(app: FastAPI) -> None:
    settings: ClaimsSettings = app.state.settings
    app.state.webhook_worker_task = None
    if not settings.webhook_worker_enabled:
        return
    worker = WebhookWorker(app.state.database, settings, app.state.webhook_metrics)
    app.state.webhook_worker = worker
    app.state.webhook_worker_task = asyncio.create_task(worker.run(), name="webhook-worker")


async def stop_webhook_worker(app: FastAPI) -> None:
    """An attempt in flight is abandoned: its lease runs out and it is sent again later."""
    task: asyncio.Task[None] | None = getattr(app.state, "webhook_worker_task", None)
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await app.state.webhook_worker.client.aclose()
