"""At least once across a crash: the claims service (a real uvicorn process) is SIGKILLed
while a receiver holds its delivery unanswered; started again, it sends the delivery again,
with the same `webhook-id`, and records it delivered."""

import asyncio
import base64
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.kit.clock import now
from services.kit.ids import new_id
from services.stack.launcher import ManagedProcess, free_port
from tests.databases import postgres_database
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def claims_process(tmp_path: Path, database_url: str) -> ManagedProcess:
    port = free_port()
    env = {
        **os.environ,
        "CLAIMS_DATABASE_URL": database_url,
        "CLAIMS_DOCUMENTS_DIR": str(tmp_path / "documents"),
        "CLAIMS_WEBHOOK_POLL_SECONDS": "0.1",
        "CLAIMS_WEBHOOK_ATTEMPT_TIMEOUT_SECONDS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "claims_api.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return ManagedProcess(
        "claims", argv, env, tmp_path / "claims.log", f"http://127.0.0.1:{port}/healthz"
    )


async def wait_ready(process: ManagedProcess) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(process.health_url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"claims did not start:\n{process.log_tail()}")


async def delivery_of(connection: asyncpg.Connection, event_id: str) -> asyncpg.Record:
    return await connection.fetchrow(
        "SELECT status, attempts FROM webhook_delivery WHERE event_id = $1", event_id
    )


async def test_a_delivery_in_flight_when_the_process_is_killed_is_sent_after_restart(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    url = await postgres_database("claims", "_webhook_crash")
    process = claims_process(tmp_path, url)
    process.start()
    try:
        await wait_ready(process)  # migrated on start
        connection = await asyncpg.connect(url)
        try:
            at = now()
            secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
            hook, event_id = new_id("whk"), new_id("evt")
            await connection.execute(
                "INSERT INTO webhook_subscription (id, url, events, unit_id, secret, enabled, "
                "created_by, created_role, created_at, updated_at) "
                "VALUES ($1, $2, $3, NULL, $4, true, 'admin', 'admin', $5, $5)",
                hook, f"{receiver.url}/crash", json.dumps(["claim.filed"]), secret, at,
            )  # fmt: skip
            receiver.hang()
            # The event's claim is not there: only the outbox matters here (no foreign keys
            # checked for this one statement).
            await connection.execute("SET session_replication_role = replica")
            payload = {"type": "claim.filed", "timestamp": at.isoformat(), "data": {"n": 1}}
            await connection.execute(
                "INSERT INTO webhook_event (id, type, claim_id, unit_id, member_id, payload, "
                "created_at) VALUES ($1, 'claim.filed', 'clm_gone', NULL, 'mbr_x', $2, $3)",
                event_id, json.dumps(payload), at,
            )  # fmt: skip
            await connection.execute("SET session_replication_role = DEFAULT")

            [held] = await receiver.await_for(lambda got: len(got) >= 1)
            assert held.status is None and held.headers["webhook-id"] == event_id
            process.kill()  # SIGKILL while the receiver holds the request
            receiver.release()
            before = await delivery_of(connection, event_id)
            assert (before["status"], before["attempts"]) == ("pending", 0)

            started = time.monotonic()
            process.start()
            got = await receiver.await_for(lambda got: len(got) >= 2, within=30)
            assert [r.headers["webhook-id"] for r in got] == [event_id, event_id]
            assert got[1].status == 200 and json.loads(got[1].body) == payload
            for _ in range(100):
                after = await delivery_of(connection, event_id)
                if after["status"] == "delivered":
                    break
                await asyncio.sleep(0.1)
            assert (after["status"], after["attempts"]) == ("delivered", 1)
            assert time.monotonic() - started < 30
        finally:
            await connection.close()
    finally:
        process.stop()
