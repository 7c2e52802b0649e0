"""What the nginx gateway itself does, through the split topology: limits, CORS, request
ids, health, docs, and what it keeps private."""

import asyncio
import re

import httpx
import pytest

from services.stack.launcher import SplitStack
from tests.e2e.conftest import assert_problem, request_id
from tests.split_stack import BURST, CORS_ORIGIN, owner, wait_for_logs
from tests.support import ADMIN

pytestmark = pytest.mark.e2e
MiB = 1024 * 1024


class TestBodyLimit:
    def test_a_body_over_2_mib_is_a_413_problem_from_the_gateway(
        self, gateway: httpx.Client, split_stack: SplitStack
    ) -> None:
        rid = request_id()
        response = gateway.post(
            "/api/v1/claims",
            content=b"x" * (3 * MiB),
            headers={**ADMIN, "Content-Type": "application/json", "X-Request-ID": rid},
        )
        body = assert_problem(response, 413)
        assert body["request_id"] == rid == response.headers["x-request-id"]
        assert wait_for_logs(split_stack, [rid], timeout=0.5)[rid] == {}  # never reached claims

    def test_the_enrolment_import_takes_larger_uploads_to_the_registry(
        self, gateway: httpx.Client, split_stack: SplitStack
    ) -> None:
        rid = request_id()
        response = gateway.post(
            "/api/v1/enrollments/import",
            files={"file": ("roster.csv", b"x" * (3 * MiB), "text/csv")},
            data={"unit_id": "unt_x", "plan_code": "MED-2026"},
            headers={"X-Request-ID": rid},
        )
        assert response.headers["x-request-id"] == rid
        logged = wait_for_logs(split_stack, [rid])[rid]
        assert set(logged) == {"members"}, (response.status_code, response.text)


class TestRateLimit:
    async def test_a_burst_from_one_address_gets_429_while_others_are_served(
        self, split_stack: SplitStack
    ) -> None:
        """The burst comes from 127.0.0.2 (still loopback), so it has its own bucket."""
        burst = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        limits = httpx.Limits(max_connections=200)
        async with (
            httpx.AsyncClient(transport=burst, base_url=split_stack.gateway_url) as noisy,
            httpx.AsyncClient(base_url=split_stack.gateway_url, limits=limits) as other,
        ):
            responses = await asyncio.gather(
                *(noisy.get("/api/v1/plans", headers=ADMIN) for _ in range(3 * BURST))
            )
            meanwhile = await other.get("/api/v1/plans", headers=ADMIN)
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) >= BURST // 2, statuses
        refused = [r for r in responses if r.status_code == 429]
        assert refused, statuses
        body = assert_problem(refused[0], 429)
        assert "requests a second" in body["detail"]
        assert refused[0].headers["retry-after"] == "1"
        assert meanwhile.status_code == 200


class TestCors:
    def test_a_preflight_from_a_front_end_origin_is_answered(self, gateway: httpx.Client) -> None:
        response = gateway.options(
            "/api/v1/claims",
            headers={
                "Origin": CORS_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
            },
        )
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == CORS_ORIGIN
        assert "POST" in response.headers["access-control-allow-methods"]
        allowed = {
            h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
        }
        assert {"authorization", "content-type", "idempotency-key", "x-request-id"} <= allowed

    def test_a_front_end_reads_the_request_id_of_an_answer(self, gateway: httpx.Client) -> None:
        response = gateway.get("/api/v1/plans", headers={**ADMIN, "Origin": CORS_ORIGIN})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == CORS_ORIGIN
        assert "X-Request-ID" in response.headers["access-control-expose-headers"]

    def test_another_origin_gets_no_cors_headers(self, gateway: httpx.Client) -> None:
        for response in (
            gateway.options(
                "/api/v1/claims",
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            ),
            gateway.get("/api/v1/plans", headers={**ADMIN, "Origin": "https://evil.example"}),
        ):
            assert not [h for h in response.headers if h.lower().startswith("access-control-")]


class TestRequestId:
    def test_the_callers_request_id_is_echoed_and_reaches_the_service(
        self, gateway: httpx.Client, split_stack: SplitStack
    ) -> None:
        rid = request_id()
        response = gateway.get("/api/v1/claims", headers={**ADMIN, "X-Request-ID": rid})
        assert response.status_code == 200
        assert response.headers.get_list("x-request-id") == [rid]
        assert {owner(n) for n in wait_for_logs(split_stack, [rid])[rid]} == {"claims"}

    def test_the_gateway_makes_one_when_none_or_a_bad_one_is_sent(
        self, gateway: httpx.Client, split_stack: SplitStack
    ) -> None:
        made = []
        for headers in ({}, {"X-Request-ID": "has spaces and ; semicolons"}):
            response = gateway.get("/api/v1/units", headers={**ADMIN, **headers})
            assert response.status_code == 200
            [rid] = response.headers.get_list("x-request-id")
            assert re.fullmatch(r"[0-9a-f]{32}", rid)
            made.append(rid)
        assert set(wait_for_logs(split_stack, made)[made[0]]) == {"members"}


class TestWhatTheGatewayServes:
    def test_healthz_of_the_gateway_and_of_each_service(self, gateway: httpx.Client) -> None:
        ready = gateway.get("/healthz")
        assert ready.status_code == 200
        assert ready.json()["database"] == "ok"
        for service in ("members", "claims"):
            response = gateway.get(f"/healthz/{service}")
            assert response.status_code == 200
            assert response.json()["service"] == service
            assert response.json()["database"] == "ok"

    def test_docs_show_both_services_openapi(self, gateway: httpx.Client) -> None:
        page = gateway.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "/openapi/members.json" in page.text and "/openapi/claims.json" in page.text
        members = gateway.get("/openapi/members.json").json()
        claims = gateway.get("/openapi/claims.json").json()
        assert "/api/v1/units" in members["paths"]
        assert "/api/v1/claims" in claims["paths"]

    def test_metrics_stay_private_to_the_services_ports(
        self, gateway: httpx.Client, split_stack: SplitStack
    ) -> None:
        assert_problem(gateway.get("/metrics"), 404)
        for name in ("members", "claims-1"):
            port = split_stack.members_port if name == "members" else split_stack.claims_ports[0]
            response = httpx.get(f"http://127.0.0.1:{port}/metrics")
            assert response.status_code == 200
            assert "mutualaid_http_requests_total{" in response.text
            assert "mutualaid_http_request_duration_seconds_bucket{" in response.text
            # Route templates, never ids: one series per route, however many claims there are.
            assert not re.search(r'route="[^"]*(clm|mbr|unt)_[0-9a-f]', response.text)

    def test_a_path_outside_the_api_is_a_404_problem(self, gateway: httpx.Client) -> None:
        for path in ("/", "/api/v1/nothing", "/api/v1/unitsX", "/internal"):
            assert_problem(gateway.get(path), 404)
