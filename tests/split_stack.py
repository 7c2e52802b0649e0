"""The split topology for end-to-end tests: the real services as uvicorn processes on the
machine's PostgreSQL, the real nginx in front, on free loopback ports (services.launcher).

One stack per test session (started on first use), shared by tests/e2e and the routing test.
Its databases are dropped and made anew at the start of each session. nginx or PostgreSQL
missing is a failure, never a skip."""

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.gateway.nginx import GatewaySettings
from services.launcher import SplitStack, free_port, run_async

POSTGRES_ADMIN_URL = os.environ.get(
    "MUTUALAID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CORS_ORIGIN = "https://app.mutualaid.example"
# The registry's answer is awaited this long by claims, the services' by the gateway.
REGISTRY_TIMEOUT_SECONDS = 2
GATEWAY_READ_TIMEOUT_SECONDS = 4
# High enough for the journeys, low enough for a burst to reach it.
RATE_PER_SECOND = 50
BURST = 60


def database_prefix(kind: str = "e2e") -> str:
    """Unique per test process: concurrent runs on one server never share a database."""
    return f"mutualaid_{kind}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


async def drop_databases(prefix: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        for service in ("members", "claims"):
            await connection.execute(f'DROP DATABASE IF EXISTS "{prefix}_{service}" WITH (FORCE)')
    finally:
        await connection.close()


def require_nginx() -> None:
    if shutil.which("nginx") is None:
        pytest.fail("nginx is required for the gateway tests (scripts/test.sh installs it)")


@pytest.fixture(scope="session")
def split_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitStack]:
    require_nginx()
    prefix = database_prefix()
    try:
        run_async(lambda: drop_databases(prefix))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required for the e2e tests ({POSTGRES_ADMIN_URL}): {exc}")
    stack = SplitStack(
        POSTGRES_ADMIN_URL,
        run_dir=tmp_path_factory.mktemp("split"),
        port=free_port(),
        claims_replicas=2,
        database_prefix=prefix,
        env={
            "MUTUALAID_ENVIRONMENT": "test",
            "CLAIMS_MEMBERS_TIMEOUT_SECONDS": str(REGISTRY_TIMEOUT_SECONDS),
        },
        gateway=GatewaySettings(
            cors_origins=CORS_ORIGIN,
            rate_per_second=RATE_PER_SECOND,
            burst=BURST,
            read_timeout_seconds=GATEWAY_READ_TIMEOUT_SECONDS,
            worker_processes="1",
        ),
    )
    try:
        with stack:
            yield stack
    finally:
        run_async(lambda: drop_databases(prefix))


def log_records(stack: SplitStack, name: str) -> list[dict[str, Any]]:
    """The JSON lines of one process's log (non-JSON lines, if any, are skipped)."""
    records = []
    for line in stack.log_path(name).read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def services_that_logged(stack: SplitStack, request_id: str) -> dict[str, list[dict[str, Any]]]:
    """process name -> its `request` log lines carrying this request id."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name in stack.service_names:
        lines = [
            r
            for r in log_records(stack, name)
            if r.get("event") == "request" and r.get("request_id") == request_id
        ]
        if lines:
            found[name] = lines
    return found


def wait_for_logs(
    stack: SplitStack, request_ids: list[str], timeout: float = 5.0
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """request id -> process -> lines, once every id was logged somewhere (a line is written
    just after its response is sent, so give it a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        found = {rid: services_that_logged(stack, rid) for rid in request_ids}
        if all(found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def owner(process_name: str) -> str:
    """claims-2 -> claims."""
    return process_name.split("-", 1)[0]


def read_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
