"""The application factory both services use: lifespan (database, migrations), middleware,
problem+json handlers, /healthz."""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Table, text

from services.kit.database import Database
from services.kit.db_errors import install_database_error_handlers
from services.kit.errors import install_problem_handlers, problem_response
from services.kit.idempotency import StoredResponse
from services.kit.logging import configure_logging
from services.kit.metrics import MetricsMiddleware, ServiceMetrics, metrics_router
from services.kit.middleware import BodyLimitMiddleware, ControlCharacterGuard, RequestIdMiddleware
from services.kit.migrate import upgrade
from services.kit.oidc import ProviderKeys
from services.kit.openapi import DESCRIPTIONS, document_problems, install_problem_schema
from services.kit.settings import ServiceSettings

log = structlog.get_logger()
LifespanHook = Callable[[FastAPI], Awaitable[None]]


def create_service_app(
    *,
    service: str,
    title: str,
    settings: ServiceSettings,
    routers: Iterable[APIRouter],
    idempotency_table: Table | None = None,
    on_startup: LifespanHook | None = None,
    on_shutdown: LifespanHook | None = None,
    description: str = "",
    upload_prefixes: tuple[str, ...] = (),
    upload_patterns: tuple[str, ...] = (),
    upload_max_bytes: int | None = None,
    readiness: Mapping[str, Callable[[FastAPI], Awaitable[None]]] | None = None,
) -> FastAPI:
    """`readiness`: what /healthz checks beside the database, by name (each raises when the
    part it checks does not answer)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.identity_provider is not None:
            # first: production without the provider's keys stops here, before any connection
            await app.state.identity_provider.start()
        database = Database(
            settings.database_url, echo=settings.sql_echo, pool_size=settings.database_pool_size
        )
        if settings.migrate_on_start:
            await upgrade(database.engine, service)
        app.state.database = database
        if on_startup:
            await on_startup(app)
        log.info("service_started", service=service)
        try:
            yield
        finally:
            if on_shutdown:
                await on_shutdown(app)
            await database.dispose()

    configure_logging()
    metrics = ServiceMetrics(service)
    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.identity_provider = ProviderKeys(settings) if settings.oidc_issuer else None
    app.state.metrics = metrics
    app.state.service = service
    app.state.idempotency_table = idempotency_table
    install_problem_handlers(app)
    install_database_error_handlers(app)

    @app.exception_handler(StoredResponse)
    async def _replay(request: Request, exc: StoredResponse) -> JSONResponse:
        return exc.response()

    @app.get(
        "/healthz",
        tags=["health"],
        summary="Readiness: the database, and the claims service's document store",
        responses={503: {"description": DESCRIPTIONS[503]}},
    )
    async def healthz(request: Request) -> Any:
        try:
            async with request.app.state.database.reading_engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:  # any database failure means "not ready"
            log.warning("health_database_down", error=str(exc))
            return _not_ready("the database does not answer")
        parts = {"database": "ok"}
        for name, check in (readiness or {}).items():
            try:
                await check(request.app)
            except Exception as exc:  # the part is down: not ready, whatever the failure
                log.warning("health_part_down", part=name, error=str(exc))
                return _not_ready(f"the {name.replace('_', ' ')} does not answer")
            parts[name] = "ok"
        return {"status": "ok", "service": service, **parts}

    app.include_router(metrics_router(metrics))
    for router in routers:
        document_problems(router)
        app.include_router(router)
    document_problems(app.router)
    install_problem_schema(app)
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        exempt_prefixes=upload_prefixes,
        exempt_patterns=upload_patterns,
        exempt_limit=upload_max_bytes,
    )
    # Inside RequestIdMiddleware (added last, so outermost): its log line has the request id.
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(ControlCharacterGuard)
    app.add_middleware(RequestIdMiddleware)
    return app


def _not_ready(detail: str) -> JSONResponse:
    return problem_response(
        503,
        {
            "type": "https://mutualaid.example/problems/upstream-unavailable",
            "title": "Service unavailable",
            "status": 503,
            "detail": detail,
        },
    )
