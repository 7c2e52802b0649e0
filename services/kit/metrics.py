"""Request metrics (Prometheus) and the one `request` log line per request.

Labels are the route *template* (`/api/v1/claims/{claim_id}`), never the raw path: ids in
paths would make one time series per claim. Unmatched paths share the label `unmatched`.
Each app has its own registry, so several apps in one process (the embedded gateway, tests)
never collide, and each replica's `/metrics` tells about that replica only (Prometheus
scrapes every replica; nothing here needs to be shared between processes)."""

import time
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("mutualaid.request")

# Scraped and probed every few seconds: logging each would drown the requests that matter.
QUIET_ROUTES = frozenset({"/metrics", "/healthz"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "mutualaid_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mutualaid_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response",
            ["service", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        self.upstream_latency = Histogram(
            "mutualaid_upstream_request_duration_seconds",
            "Time a call to another service took, by that service and its outcome (ok, "
            "not_found, error, unreachable, timeout)",
            ["service", "upstream", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_upstream(self, upstream: str, outcome: str, seconds: float) -> None:
        self.upstream_latency.labels(self.service, upstream, outcome).observe(seconds)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(self.service, method, route, str(status)).inc()
        self.latency.labels(self.service, method, route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class MetricsMiddleware:
    """Counts and times every HTTP request and logs one `request` line for it.

    The line has the method, the path (no query string: identity numbers can be searched
    for), the route template, the status, the duration and (through the context bound by
    RequestIdMiddleware, which must wrap this one) the request id. Never headers or bodies."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            if route != "/metrics":
                self.metrics.observe(method, route, status, elapsed)
            if route not in QUIET_ROUTES or status >= 400:
                log.info(
                    "request",
                    service=self.metrics.service,
                    method=method,
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )


def metrics_router(metrics: ServiceMetrics) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Any:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
