"""`mutualaid up --split` as a user runs it: databases created and migrated, every process
up behind nginx, and Ctrl-C stops all of them."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.launcher import free_port, run_async
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


def test_up_split_starts_everything_and_ctrl_c_stops_it(tmp_path: Path, prefix: str) -> None:
    require_nginx()
    port = free_port()
    log = (tmp_path / "up.log").open("w")
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "up",
            "--split",
            "--postgres",
            POSTGRES_ADMIN_URL,
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
