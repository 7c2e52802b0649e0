"""The split topology for end-to-end tests: the real services as uvicorn processes on the
machine's PostgreSQL, the real nginx in front, on free loopback ports (services.stack.launcher).

One stack per test session (started on first use), shared by tests/e2e and the routing test.
Its databases are dropped and made anew at the start of each session. Tests that kill every
replica, stop the database or read every log whole start a stack of their own
(`running_stack`), if need be on a PostgreSQL server of their own (`PrivatePostgres`). nginx or
PostgreSQL missing is a failure, never a skip."""

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.stack.gateway.nginx import GatewaySettings
from services.stack.launcher import SplitStack, free_port, run_async

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


async def drop_databases(prefix: str, postgres_url: str = POSTGRES_ADMIN_URL) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        for service in ("members", "claims"):
            await connection.execute(f'DROP DATABASE IF EXISTS "{prefix}_{service}" WITH (FORCE)')
    finally:
        await connection.close()


def require_nginx() -> None:
    if shutil.which("nginx") is None:
        pytest.fail("nginx is required for the gateway tests (scripts/test.sh installs it)")


@contextmanager
def running_stack(
    run_dir: Path,
    *,
    kind: str = "e2e",
    postgres_url: str = POSTGRES_ADMIN_URL,
    claims_replicas: int = 2,
    rate_per_second: int = RATE_PER_SECOND,
    burst: int = BURST,
    read_timeout_seconds: int = GATEWAY_READ_TIMEOUT_SECONDS,
    registry_timeout_seconds: int = REGISTRY_TIMEOUT_SECONDS,
) -> Iterator[SplitStack]:
    """A split stack of its own (databases `<prefix>_members`, `<prefix>_claims` dropped
    before and after), for tests that kill, restart or read the logs of every process."""
    require_nginx()
    prefix = database_prefix(kind)

    async def drop() -> None:
        await drop_databases(prefix, postgres_url)

    try:
        run_async(drop)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required for the e2e tests ({postgres_url}): {exc}")
    stack = SplitStack(
        postgres_url,
        run_dir=run_dir,
        port=free_port(),
        claims_replicas=claims_replicas,
        database_prefix=prefix,
        env={
            "MUTUALAID_ENVIRONMENT": "test",
            "CLAIMS_MEMBERS_TIMEOUT_SECONDS": str(registry_timeout_seconds),
        },
        gateway=GatewaySettings(
            cors_origins=CORS_ORIGIN,
            rate_per_second=rate_per_second,
            burst=burst,
            read_timeout_seconds=read_timeout_seconds,
            worker_processes="1",
        ),
    )
    try:
        with stack:
            yield stack
    finally:
        run_async(drop)


@pytest.fixture(scope="session")
def split_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitStack]:
    with running_stack(tmp_path_factory.mktemp("split")) as stack:
        yield stack


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb into a temporary directory, listening on
    a free loopback port), for tests that stop and start the server: the machine's server is
    shared with every other test process, and other people's, on this machine.

    As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        self.bin_dir = self._find_binaries()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mutualaid-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres", group="postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def _find_binaries() -> Path:
        found = shutil.which("initdb")
        if found:
            return Path(found).parent
        candidates = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda path: (
                int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0
            ),
        )
        if not candidates:
            pytest.fail("the PostgreSQL server binaries (initdb, pg_ctl) are required")
        return candidates[-1].parent

    def _run(self, *argv: str, timeout: float = 60) -> None:
        command = [*self.as_user, str(self.bin_dir / argv[0]), *argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed: {done.stdout}{done.stderr}\n{tail}")

    def init(self) -> "PrivatePostgres":
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


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
