"""The claims service's one way to the member registry: a typed client over one shared
`httpx.AsyncClient` per process, with explicit timeouts. The registry being down or slow is a
503 / 504 problem, never a 500 and never a half-stored claim."""

import time
from collections.abc import Awaitable, Sequence
from datetime import date
from typing import Annotated, Any

import httpx
import structlog
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict

from claims_api.coverage_answers import (
    Coverage,
    CoverageLookupAnswers,
    CoverageLookupItem,
    answers_of_call,
    same_rules,
)
from claims_api.settings import ClaimsSettings
from services.kit.errors import NotFound, UpstreamTimeout, UpstreamUnavailable
from services.kit.metrics import ServiceMetrics

log = structlog.get_logger()

# What a route that asks the registry can answer besides its own problems (services.kit.openapi
# gives them the problem schema).
REGISTRY_PROBLEMS: dict[int | str, dict[str, Any]] = {
    503: {"description": "The member registry is unreachable or answered an error"},
    504: {"description": "The member registry did not answer in time"},
}


class PayoutAccount(BaseModel):
    """A member's bank card as the registry holds it, in full (the lookup is for payments)."""

    model_config = ConfigDict(extra="ignore")

    member_id: str
    account_name: str
    account_number: str
    bank_name: str
    bank_branch: str | None = None


class PayoutAccounts(BaseModel):
    model_config = ConfigDict(extra="ignore")

    accounts: list[PayoutAccount]
    missing: list[str]


LOOKUP_CHUNK = 5_000
"""Members per call to the registry's lookup (its limit)."""
COVERAGE_LOOKUP_CHUNK = 5_000
"""Items per call to the registry's coverage look-up (its limit)."""


def _transport(settings: ClaimsSettings) -> httpx.AsyncBaseTransport:
    """aiohttp's transport roughly doubles throughput on this hop (README, performance)."""
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:  # pragma: no cover - it is a declared dependency
        return httpx.AsyncHTTPTransport(retries=0)
    return AiohttpTransport()


class MembersClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        metrics: ServiceMetrics | None = None,
        lookup_timeout: httpx.Timeout | None = None,
    ) -> None:
        self.http = http
        # the batch coverage look-up (5,000 items) answers in seconds, not milliseconds
        self.lookup_timeout = lookup_timeout or http.timeout
        # the hop every claim makes, timed: mutualaid_upstream_request_duration_seconds
        self.metrics = metrics

    @classmethod
    def for_settings(
        cls,
        settings: ClaimsSettings,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> "MembersClient":
        timeout = httpx.Timeout(
            settings.members_timeout_seconds, connect=settings.members_connect_timeout_seconds
        )
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
        http = httpx.AsyncClient(
            base_url=settings.members_url,
            timeout=timeout,
            limits=limits,
            transport=transport or _transport(settings),
        )
        lookup_timeout = httpx.Timeout(
            settings.members_lookup_timeout_seconds,
            connect=settings.members_connect_timeout_seconds,
        )
        return cls(http, metrics, lookup_timeout)

    async def close(self) -> None:
        await self.http.aclose()

    async def coverage(
        self,
        *,
        member_id: str,
        plan_code: str,
        on: date,
        authorization: str,
        request_id: str | None,
    ) -> Coverage:
        headers = {"Authorization": authorization}
        if request_id:
            headers["X-Request-ID"] = request_id
        params = {"member_id": member_id, "plan_code": plan_code, "on": on.isoformat()}
        response = await self._timed(self._get("/api/v1/coverage", params, headers))
        if response.status_code == 404:
            detail = _detail(response) or "member or plan not found"
            raise NotFound(detail)
        if response.status_code != 200:
            log.warning("registry_error", status=response.status_code, body=response.text[:500])
            raise UpstreamUnavailable(
                f"the member registry answered {response.status_code}; nothing was stored"
            )
        return Coverage.model_validate_json(response.content)

    async def coverage_lookup(
        self,
        plan_code: str,
        items: Sequence[CoverageLookupItem],
        *,
        authorization: str,
        request_id: str | None,
    ) -> CoverageLookupAnswers:
        """Each item's coverage by `plan_code`, in the items' order: one call to the registry
        per COVERAGE_LOOKUP_CHUNK items (one for no items: the plan alone), with the batch
        timeout (CLAIMS_MEMBERS_LOOKUP_TIMEOUT_SECONDS). `index` is the item's position in
        `items`. An unknown plan is NotFound; the plan's rules changed between two of the
        calls is PLAN_CHANGED (each item must be answered on the same rules)."""
        headers = {"Authorization": authorization}
        if request_id:
            headers["X-Request-ID"] = request_id
        whole: CoverageLookupAnswers | None = None
        for start in range(0, max(len(items), 1), COVERAGE_LOOKUP_CHUNK):
            chunk = items[start : start + COVERAGE_LOOKUP_CHUNK]
            body = {"plan_code": plan_code, "items": [item.body() for item in chunk]}
            call = self.http.post(
                "/api/v1/coverage/lookup", json=body, headers=headers, timeout=self.lookup_timeout
            )
            response = await self._timed(self._send(call))
            if response.status_code == 404:
                raise NotFound(_detail(response) or f"plan {plan_code} not found")
            if response.status_code != 200:
                log.warning("registry_error", status=response.status_code, body=response.text[:500])
                raise UpstreamUnavailable(
                    f"the member registry answered {response.status_code} to the coverage "
                    "look-up; nothing was stored"
                )
            part = answers_of_call(response.content, start)
            # httpx's Response sits in a reference cycle: while a bulk request pauses the
            # collector (services.kit.memory.gc_paused) each call's body, megabytes, would
            # stay until the request ends. Let go of it here, once read.
            del response._content
            if whole is None:
                whole = part
                continue
            same_rules(whole.plan, part.plan)
            whole.results.extend(part.results)
        assert whole is not None
        return whole

    async def payout_accounts(
        self, member_ids: list[str], *, authorization: str, request_id: str | None
    ) -> dict[str, PayoutAccount]:
        """The payout account of each member that has one, by member id: one call to the
        registry per LOOKUP_CHUNK members (never one per member)."""
        headers = {"Authorization": authorization}
        if request_id:
            headers["X-Request-ID"] = request_id
        found: dict[str, PayoutAccount] = {}
        unique = list(dict.fromkeys(member_ids))
        for start in range(0, len(unique), LOOKUP_CHUNK):
            body = {"member_ids": unique[start : start + LOOKUP_CHUNK]}
            answer = await self._timed(self._post("/api/v1/payout-accounts/lookup", body, headers))
            if answer.status_code != 200:
                log.warning("registry_error", status=answer.status_code, body=answer.text[:200])
                raise UpstreamUnavailable(
                    f"the member registry answered {answer.status_code} to the payout account "
                    "lookup; nothing was stored"
                )
            for account in PayoutAccounts.model_validate_json(answer.content).accounts:
                found[account.member_id] = account
        return found

    async def _timed(self, call: Awaitable[httpx.Response]) -> httpx.Response:
        """The call, timed: mutualaid_upstream_request_duration_seconds by outcome."""
        started, outcome = time.perf_counter(), "unreachable"
        try:
            response = await call
            outcome = _OUTCOMES.get(response.status_code, "error")
            return response
        except UpstreamTimeout:
            outcome = "timeout"
            raise
        finally:
            if self.metrics is not None:
                self.metrics.observe_upstream("members", outcome, time.perf_counter() - started)

    async def _post(self, path: str, body: Any, headers: dict[str, str]) -> Any:
        return await self._send(self.http.post(path, json=body, headers=headers))

    async def _get(self, path: str, params: dict[str, str], headers: dict[str, str]) -> Any:
        return await self._send(self.http.get(path, params=params, headers=headers))

    async def _send(self, request: Awaitable[httpx.Response]) -> Any:
        try:
            return await request
        except httpx.TimeoutException as exc:
            if not _refused(exc):
                raise UpstreamTimeout(
                    "the member registry did not answer in time; nothing was stored"
                ) from None
            unreachable: Exception = exc
        except (httpx.TransportError, OSError) as exc:
            unreachable = exc
        log.warning("registry_unreachable", error=repr(unreachable))
        raise UpstreamUnavailable(
            "the member registry is unreachable; nothing was stored",
            headers={"Retry-After": "5"},
        )


_OUTCOMES = {200: "ok", 404: "not_found"}


def _refused(exc: httpx.TimeoutException) -> bool:
    """httpx-aiohttp reports a refused connection (aiohttp's ClientConnectorError, an OSError)
    as httpx.ConnectTimeout: nothing timed out, the registry is down, so that is a 503."""
    cause = exc.__cause__
    return isinstance(cause, OSError) and not isinstance(cause, TimeoutError)


def _detail(response: httpx.Response) -> str | None:
    try:
        return response.json().get("detail")
    except ValueError:
        return None


async def open_members_client(app: FastAPI) -> None:
    transport = getattr(app.state, "members_transport", None)
    app.state.members_client = MembersClient.for_settings(
        app.state.settings, transport, app.state.metrics
    )


async def close_members_client(app: FastAPI) -> None:
    await app.state.members_client.close()


async def _members_client(request: Request) -> MembersClient:
    return request.app.state.members_client


MembersClientDep = Annotated[MembersClient, Depends(_members_client)]
