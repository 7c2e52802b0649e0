"""The webhook worker's metrics, on the claims service's registry (its /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

from services.kit.metrics import LATENCY_BUCKETS, ServiceMetrics

OUTCOMES = ("delivered", "retried", "failed")


class WebhookMetrics:
    def __init__(self, metrics: ServiceMetrics) -> None:
        registry = metrics.registry
        self.deliveries = Counter(
            "mutualaid_webhook_deliveries",
            "Delivery attempts by outcome: delivered (2xx), retried (failed, tried again "
            "later), failed (given up)",
            ["outcome"],
            registry=registry,
        )
        for outcome in OUTCOMES:
            self.deliveries.labels(outcome)
        self.attempt_duration = Histogram(
            "mutualaid_webhook_attempt_duration_seconds",
            "Time one POST to a receiver took, to its answer, error or timeout",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.backlog = Gauge(
            "mutualaid_webhook_backlog",
            "Events not yet fanned out plus deliveries pending (of enabled subscriptions)",
            registry=registry,
        )
        self.oldest_pending_age = Gauge(
            "mutualaid_webhook_oldest_pending_age_seconds",
            "Age of the oldest event not yet fanned out or delivery still pending (0: none)",
            registry=registry,
        )
