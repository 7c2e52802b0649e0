"""The member registry down or slow: filing a claim is a 503 / 504 problem, never a 500, and
nothing is stored, not even the Idempotency-Key (a retry is worked on again).

The claims app here is a fresh one whose registry address answers nothing (a closed loopback
port) or answers too late (a real HTTP server on loopback that sleeps): the production
transport is used, so its timeouts are the ones tested."""

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from claims_api.app import create_app
from claims_api.models import metadata
from claims_api.settings import ClaimsSettings
from tests.claims.support_claims import CLAIMS, hospital_stay, registry_calls
from tests.databases import postgres_database, wipe
from tests.support import ADMIN

SLOW_SECONDS = 5.0
TIMEOUT_SECONDS = 0.5


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _slow_registry(scope, receive, send) -> None:
    """Accepts the connection, then takes longer to answer than the claims service waits."""
    await asyncio.sleep(SLOW_SECONDS)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture(scope="module")
def slow_registry_url() -> Iterator[str]:
    """A real HTTP server on a free loopback port, in its own thread and event loop."""
    port = _free_port()
    config = uvicorn.Config(
        _slow_registry, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the slow registry did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = server.force_exit = True
    thread.join(timeout=10)


async def _database_url(backend: str, tmp: Path, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / f'claims-{name}.db'}"
    return await postgres_database("claims", suffix=f"_{name}")


async def _claims_app(backend: str, tmp: Path, name: str, members_url: str) -> FastAPI:
    settings = ClaimsSettings(
        database_url=await _database_url(backend, tmp, name),
        environment="test",
        members_url=members_url,
        members_timeout_seconds=TIMEOUT_SECONDS,
        members_connect_timeout_seconds=TIMEOUT_SECONDS,
    )
    app = create_app(settings)
    app.state.metadata = metadata
    return app


@pytest.fixture(scope="module")
async def registry_down_app(backend: str, tmp_path_factory) -> AsyncIterator[FastAPI]:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    app = await _claims_app(backend, tmp_path_factory.mktemp("down"), "down", "http://127.0.0.1:9")
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def registry_slow_app(
    backend: str, tmp_path_factory, slow_registry_url: str
) -> AsyncIterator[FastAPI]:
    app = await _claims_app(backend, tmp_path_factory.mktemp("slow"), "slow", slow_registry_url)
    async with app.router.lifespan_context(app):
        yield app


async def _client(app: FastAPI) -> httpx.AsyncClient:
    await wipe(app)
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://claims")


def _claim_body() -> dict:
    return {
        "member_id": "mbr_anyone",
        "plan_code": "MED-2026",
        "facts": hospital_stay(date(2026, 3, 2)),
    }


async def _nothing_stored(client: httpx.AsyncClient) -> None:
    listed = await client.get(CLAIMS, headers=ADMIN)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"items": [], "next_cursor": None}


class TestRegistryUnreachable:
    async def test_filing_is_a_503_problem_and_stores_nothing(self, registry_down_app):
        async with await _client(registry_down_app) as client:
            response = await client.post(CLAIMS, json=_claim_body(), headers=ADMIN)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["status"] == 503
            assert "registry" in problem["detail"]
            assert response.headers["retry-after"] == "5"
            await _nothing_stored(client)

    async def test_the_failed_call_is_timed_as_unreachable(self, registry_down_app):
        before = await registry_calls(registry_down_app, "unreachable")
        async with await _client(registry_down_app) as client:
            response = await client.post(CLAIMS, json=_claim_body(), headers=ADMIN)
            assert response.status_code == 503, response.text
        assert await registry_calls(registry_down_app, "unreachable") == before + 1

    async def test_a_retry_with_the_same_key_is_worked_on_again(self, registry_down_app):
        headers = {**ADMIN, "Idempotency-Key": "file-once"}
        async with await _client(registry_down_app) as client:
            first = await client.post(CLAIMS, json=_claim_body(), headers=headers)
            again = await client.post(CLAIMS, json=_claim_body(), headers=headers)
            # Not 409 "still being processed" and not a replay: the key was not kept.
            assert (first.status_code, again.status_code) == (503, 503)
            assert "idempotent-replayed" not in again.headers
            await _nothing_stored(client)

    async def test_a_quote_is_a_503_problem_too(self, registry_down_app):
        async with await _client(registry_down_app) as client:
            response = await client.post(f"{CLAIMS}/quote", json=_claim_body(), headers=ADMIN)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"


class TestRegistrySlow:
    async def test_filing_is_a_504_problem_after_the_timeout_and_stores_nothing(
        self, registry_slow_app
    ):
        timed_out = await registry_calls(registry_slow_app, "timeout")
        async with await _client(registry_slow_app) as client:
            started = time.monotonic()
            response = await client.post(CLAIMS, json=_claim_body(), headers=ADMIN)
            waited = time.monotonic() - started
            assert response.status_code == 504, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 504
            # It gave up after its own timeout, well before the registry would have answered.
            assert TIMEOUT_SECONDS <= waited < SLOW_SECONDS - 1
            await _nothing_stored(client)
        assert await registry_calls(registry_slow_app, "timeout") == timed_out + 1
