"""`mutualaid up --split` as a user runs it: databases created and migrated, every process
up behind nginx, and Ctrl-C stops all of them."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.stack.launcher import free_port, run_async
from tests.split_stack import POSTGRES_ADMIN_URL, database_prefix, drop_databases, require_nginx

pytestmark = pytest.mark.e2e


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("PPid", "").strip() == str(pid):
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except OSError:
        return False
    return state != "Z"


async def tables_of(database: str) -> set[str]:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    connection = await asyncpg.connect(f"{base}/{database}")
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        return {row["tablename"] for row in rows}
    finally:
        await connection.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = database_prefix("cli")
    run_async(lambda: drop_databases(prefix))
    yield prefix
    run_async(lambda: drop_databases(prefix))


def socket_url() -> str:
    """The test server's URL through its Unix socket (what a packaged PostgreSQL listens on
    by default): postgresql://postgres@/postgres?host=/var/run/postgresql."""

    async def directories() -> str:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            return await connection.fetchval("SHOW unix_socket_directories")
        finally:
            await connection.close()

    directory = next((d.strip() for d in run_async(directories).split(",") if d.strip()), "")
    if not directory.startswith("/"):
        pytest.skip("the test server listens on no Unix socket")
    return f"postgresql://postgres@/postgres?host={directory}"


@pytest.mark.parametrize("through", ["tcp", "unix-socket"])
def test_up_split_starts_everything_and_ctrl_c_stops_it(
    tmp_path: Path, prefix: str, through: str
) -> None:
    require_nginx()
    postgres = POSTGRES_ADMIN_URL if through == "tcp" else socket_url()
    port = free_port()
    log = (tmp_path / "up.log").open("w")
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.stack.cli",
            "up",
            "--split",
            "--postgres",
            postgres,
            "--port",
            str(port),
            "--claims-replicas",
            "2",
            "--data-dir",
            str(tmp_path),
            "--database-prefix",
            prefix,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MUTUALAID_ENVIRONMENT": "test"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert launcher.poll() is None, (tmp_path / "up.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz/claims").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz/members").status_code == 200
        children = children_of(launcher.pid)
        assert len(children) == 4  # members, two claims replicas, nginx (its master)
        assert "member" in run_async(lambda: tables_of(f"{prefix}_members"))
        assert "claim" in run_async(lambda: tables_of(f"{prefix}_claims"))

        launcher.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert launcher.wait(timeout=30) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
        log.close()
    assert [pid for pid in children if alive(pid)] == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")
    output = (tmp_path / "up.log").read_text()
    assert f"http://127.0.0.1:{port}" in output and "stopped" in output
    assert (tmp_path / "split" / "logs" / "members.log").exists()


def run_up(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """`mutualaid up ARGS` as a user runs it, to its end; PATH replaced when given."""
    env = {**os.environ, "MUTUALAID_ENVIRONMENT": "test"}
    if path is not None:
        env["PATH"] = path
    command = [sys.executable, "-m", "services.stack.cli", "up", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed start says, after checking it failed and said only that."""
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def databases_named(prefix: str) -> set[str]:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        rows = await connection.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}%"
        )
        return {row["datname"] for row in rows}
    finally:
        await connection.close()


def split_args(
    tmp_path: Path, prefix: str, port: int, postgres: str = POSTGRES_ADMIN_URL
) -> tuple[str, ...]:
    return (
        "--split",
        "--postgres",
        postgres,
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path),
        "--database-prefix",
        prefix,
    )


class TestMissingPrerequisites:
    """Each is one line naming what is missing and how to get it, found before a database is
    created or a process started."""

    def test_without_nginx_it_says_how_to_install_it(self, tmp_path: Path, prefix: str) -> None:
        empty = tmp_path / "bin"
        empty.mkdir()
        result = run_up(*split_args(tmp_path, prefix, free_port()), path=str(empty))
        line = refusal(result)
        assert "nginx is not installed" in line and "apt-get install nginx" in line
        assert run_async(lambda: databases_named(prefix)) == set()
        assert not (tmp_path / "split").exists()

    def test_an_unreachable_postgres_is_named_with_the_fix(
        self, tmp_path: Path, prefix: str
    ) -> None:
        closed = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
        line = refusal(run_up(*split_args(tmp_path, prefix, free_port(), closed)))
        assert f"PostgreSQL at {closed} is unreachable (connection refused)" in line
        assert "start the server" in line and "--postgres" in line
        assert not (tmp_path / "split").exists()

    def test_a_host_that_does_not_resolve_is_named_in_the_resolvers_words(
        self, tmp_path: Path, prefix: str
    ) -> None:
        unknown = "postgresql://postgres@no-such-host.invalid:5432/postgres"
        with pytest.raises(socket.gaierror) as resolver:
            socket.getaddrinfo("no-such-host.invalid", 5432)
        line = refusal(run_up(*split_args(tmp_path, prefix, free_port(), unknown)))
        said = str(resolver.value.strerror).lower()  # "name or service not known"
        assert f"PostgreSQL at {unknown} is unreachable ({said})" in line
        assert "unknown error" not in line.lower()

    def test_a_unix_socket_without_a_server_is_unreachable_not_a_bad_url(
        self, tmp_path: Path, prefix: str
    ) -> None:
        nowhere = f"postgresql://postgres@/postgres?host={tmp_path}"
        line = refusal(run_up(*split_args(tmp_path, prefix, free_port(), nowhere)))
        assert "is unreachable (no such file or directory)" in line, line
        assert "not a PostgreSQL URL" not in line

    def test_a_busy_gateway_port_is_named_with_the_fix(self, tmp_path: Path, prefix: str) -> None:
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            line = refusal(run_up(*split_args(tmp_path, prefix, port)))
        assert f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line
        assert run_async(lambda: databases_named(prefix)) == set()
        assert not (tmp_path / "split").exists()

    def test_the_embedded_stack_names_a_busy_port_too(self, tmp_path: Path) -> None:
        data = tmp_path / "data"
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            line = refusal(run_up("--port", str(port), "--data-dir", str(data)))
        assert f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line
        assert not data.exists()
