"""The gateway of `mutualaid up`: one process hosting both services, routed by the same table
as nginx, with the claims service reaching the registry over in-process HTTP."""

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import httpx
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.types import Receive, Scope, Send

from services.kit.errors import install_problem_handlers, problem_response
from services.kit.routing import owner_of
from services.stack.gateway.client_limits import ClientBodyLimits
from services.stack.gateway.nginx import GatewaySettings


class EmbeddedGateway:
    """Public API paths go to their owner; /healthz, /docs and lifespan to the gateway's own app."""

    def __init__(
        self,
        own: FastAPI,
        services: dict[str, FastAPI],
        settings: GatewaySettings | None = None,
    ) -> None:
        self.own, self.services = own, services
        self.limited = ClientBodyLimits(self.route, settings or GatewaySettings())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.limited(scope, receive, send)

    async def route(self, scope: Scope, receive: Receive, send: Send) -> None:
        owner = None
        if scope["type"] == "http":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            owner = owner_of(scope["path"], (query.get("entity") or [None])[0])
        if owner is None:
            await self.own(scope, receive, send)
            return
        if not any(name == b"x-request-id" for name, _ in scope["headers"]):
            request_id = (b"x-request-id", uuid.uuid4().hex.encode())
            scope = {**scope, "headers": [*scope["headers"], request_id]}
        await self.services[owner](scope, receive, send)


def create_gateway(
    members_app: FastAPI, claims_app: FastAPI, settings: GatewaySettings | None = None
) -> EmbeddedGateway:
    """The gateway in front of both apps, with nginx's client limits (`settings`, from the
    MUTUALAID_GATEWAY_* environment when not given) on request bodies; its head limits are
    the server's (services.stack.gateway.client_limits.uvicorn_options)."""
    services = {"members": members_app, "claims": claims_app}
    claims_app.state.members_transport = httpx.ASGITransport(app=members_app)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for service in services.values():  # the registry first: claims depends on it
                await stack.enter_async_context(service.router.lifespan_context(service))
            yield

    gateway = FastAPI(
        title="mutualaid", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    install_problem_handlers(gateway)

    @gateway.get("/healthz")
    async def healthz() -> JSONResponse:
        statuses: dict[str, Any] = {}
        for name, service in services.items():
            transport = httpx.ASGITransport(app=service)
            async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
                statuses[name] = (await client.get("/healthz")).status_code == 200
        ready = all(statuses.values())
        body = {
            "status": "ok" if ready else "degraded",
            "services": {k: "ok" if v else "down" for k, v in statuses.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @gateway.get("/openapi/{service}.json")
    async def openapi(service: str) -> JSONResponse:
        if service not in services:
            return problem_response(
                404,
                {
                    "type": "about:blank",
                    "title": "Not found",
                    "status": 404,
                    "detail": f"no service {service}",
                },
            )
        return JSONResponse(services[service].openapi())

    @gateway.get("/docs")
    async def docs() -> HTMLResponse:
        return docs_page()

    return EmbeddedGateway(gateway, services, settings)


def docs_page() -> HTMLResponse:
    """Swagger UI listing both services' OpenAPI documents (nginx serves the same page)."""
    page = get_swagger_ui_html(openapi_url="/openapi/members.json", title="mutualaid API")
    html = page.body.decode().replace(
        "url: '/openapi/members.json',",
        "urls: [{url: '/openapi/members.json', name: 'member registry'},"
        " {url: '/openapi/claims.json', name: 'claims'}],",
    )
    return HTMLResponse(html)
