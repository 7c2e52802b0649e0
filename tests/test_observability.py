"""Logs and metrics of a service, in process: one JSON `request` line per request carrying
the request id, and nothing a log must never hold (identity numbers, tokens, bodies)."""

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.support import ADMIN, metric_value

IDENTITY_NUMBER = "11010519491231002X"


@pytest.fixture(scope="module")
async def registry(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    from members_api.app import create_app
    from members_api.settings import MembersSettings

    tmp: Path = tmp_path_factory.mktemp("observability")
    app = create_app(MembersSettings(database_url=f"sqlite:///{tmp}/members.db"))
    async with app.router.lifespan_context(app):
        yield app


async def call(app: FastAPI, method: str, path: str, **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://members") as client:
        return await client.request(method, path, **kwargs)


def request_lines(captured: str) -> list[dict]:
    lines = [json.loads(line) for line in captured.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "request"]


class TestRequestLog:
    async def test_one_json_line_per_request_with_its_request_id(
        self, registry: FastAPI, capsys: pytest.CaptureFixture[str]
    ) -> None:
        capsys.readouterr()
        await call(registry, "GET", "/api/v1/units/unt_nothing", headers={"X-Request-ID": "rid-1"})
        [line] = request_lines(capsys.readouterr().err)
        assert line["request_id"] == "rid-1"
        assert line["service"] == "members"
        assert (line["method"], line["path"], line["route"]) == (
            "GET",
            "/api/v1/units/unt_nothing",
            "/api/v1/units/{unit_id}",
        )
        assert line["status"] == 401 and line["duration_ms"] >= 0 and line["level"] == "info"

    async def test_identity_numbers_tokens_and_bodies_never_reach_the_log(
        self, registry: FastAPI, capsys: pytest.CaptureFixture[str]
    ) -> None:
        capsys.readouterr()
        await call(registry, "GET", "/api/v1/members", params={"q": IDENTITY_NUMBER}, headers=ADMIN)
        await call(
            registry,
            "POST",
            "/api/v1/members",
            json={"national_id": IDENTITY_NUMBER, "name": "王芳", "unit_id": "unt_x"},
            headers=ADMIN,
        )
        captured = capsys.readouterr().err
        assert len(request_lines(captured)) == 2
        token = ADMIN["Authorization"].split()[1]
        for secret in (IDENTITY_NUMBER, token, "王芳", "q="):
            assert secret not in captured


class TestMetrics:
    async def test_requests_are_counted_by_route_template(self, registry: FastAPI) -> None:
        series = (
            'mutualaid_http_requests_total{method="GET",route="/api/v1/units/{unit_id}",'
            'service="members",status="401"} '
        )

        async def count() -> float:
            return metric_value((await call(registry, "GET", "/metrics")).text, series)

        before = await count()
        for unit in ("unt_a", "unt_b", "unt_c"):
            await call(registry, "GET", f"/api/v1/units/{unit}")
        assert await count() == before + 3
        text = (await call(registry, "GET", "/metrics")).text
        assert "unt_a" not in text
        assert 'mutualaid_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text

    async def test_metrics_are_not_in_the_public_openapi(self, registry: FastAPI) -> None:
        assert "/metrics" not in registry.openapi()["paths"]
