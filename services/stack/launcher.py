"""`mutualaid up --split`: the compose topology without a container engine.

Each service runs as its own uvicorn process on loopback, on its own database on one
PostgreSQL server (created if missing, migrated before anything starts), with nginx in
front rendered from the same template as the compose gateway. Ctrl-C (or SIGTERM) stops
nginx first, then the services: terminate, wait, kill.

`SplitStack` is also what the end-to-end tests start; they stop and restart single processes
through it to inject faults."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from services.stack.gateway.nginx import GatewaySettings, Topology, nginx_command, write_run_dir

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


class StackError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def run_async(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion on a loop of its own thread: callers may be inside (or
    own) an event loop of their own, such as a test session's."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(make())
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="mutualaid-setup")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def ensure_database(server_url: str, name: str) -> bool:
    """Create database `name` on the server if it is missing; True when it was created."""
    url = make_url(server_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        await connection.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await connection.close()


async def migrate(url: str, service: str) -> None:
    from services.kit.database import make_engine
    from services.kit.migrate import upgrade

    engine = make_engine(url)
    try:
        await upgrade(engine, service)
    finally:
        await engine.dispose()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Children get SIGTERM if the launcher dies without stopping them (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    health_url: str
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> None:
        if self.running:
            return
        log = self.log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group: the terminal's Ctrl-C reaches the launcher only, which
                # then stops everything in order.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise StackError(f"{self.name} could not be started ({self.argv[0]}): {exc}") from exc
        finally:
            log.close()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def kill(self) -> None:
        """As a crash would: SIGKILL, no clean-up."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class SplitStack:
    """members, N claims replicas and nginx, on loopback, on one PostgreSQL server."""

    def __init__(
        self,
        postgres_url: str,
        *,
        run_dir: Path,
        port: int = 8000,
        host: str = "127.0.0.1",
        claims_replicas: int = 1,
        database_prefix: str = "mutualaid",
        env: dict[str, str] | None = None,
        gateway: GatewaySettings | None = None,
        nginx: str = "nginx",
    ) -> None:
        if claims_replicas < 1:
            raise ValueError("at least one claims replica")
        self.postgres_url = postgres_url
        self.run_dir = run_dir.resolve()
        self.port, self.host = port, host
        self.gateway_settings = gateway or GatewaySettings()
        self.members_db = f"{database_prefix}_members"
        self.claims_db = f"{database_prefix}_claims"
        self.members_url = database_url(postgres_url, self.members_db)
        self.claims_url = database_url(postgres_url, self.claims_db)
        self.nginx = nginx
        self.extra_env = dict(env or {})
        self.members_port = free_port()
        self.claims_ports = [free_port() for _ in range(claims_replicas)]
        self.processes: dict[str, ManagedProcess] = {}
        self._build_processes()

    # --- what runs --------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def service_names(self) -> list[str]:
        return [name for name in self.processes if name != "nginx"]

    def log_path(self, name: str) -> Path:
        return self.processes[name].log_path

    def _service_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "MEMBERS_DATABASE_URL": self.members_url,
                "MEMBERS_MIGRATE_ON_START": "false",
                "CLAIMS_DATABASE_URL": self.claims_url,
                "CLAIMS_MIGRATE_ON_START": "false",
                # Straight to the registry, as in compose: not through the gateway.
                "CLAIMS_MEMBERS_URL": f"http://127.0.0.1:{self.members_port}",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        # Claim documents' bytes: one folder under the run directory, shared by the replicas
        # (all on this host), unless the environment names another place.
        env.setdefault("CLAIMS_DOCUMENTS_DIR", str(self.run_dir / "documents"))
        return env

    def _uvicorn(self, app: str, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",  # the app logs one JSON line per request, without query strings
            "--timeout-graceful-shutdown",
            "5",
        ]

    def _build_processes(self) -> None:
        logs = self.run_dir / "logs"
        env = self._service_env()
        members = ManagedProcess(
            "members",
            self._uvicorn("members_api.app:create_app", self.members_port),
            env,
            logs / "members.log",
            f"http://127.0.0.1:{self.members_port}/healthz",
        )
        self.processes["members"] = members
        for index, port in enumerate(self.claims_ports, start=1):
            name = f"claims-{index}"
            self.processes[name] = ManagedProcess(
                name,
                self._uvicorn("claims_api.app:create_app", port),
                env,
                logs / f"{name}.log",
                f"http://127.0.0.1:{port}/healthz",
            )
        topology = Topology.split(
            port=self.port,
            host=self.host,
            members=[self.members_port],
            claims=self.claims_ports,
            run_dir=self.run_dir / "nginx",
            settings=self.gateway_settings,
        )
        self.topology = topology
        config = topology.run_dir / "nginx.conf"
        self.processes["nginx"] = ManagedProcess(
            "nginx",
            nginx_command(config, self.nginx),
            dict(os.environ),
            logs / "nginx.log",
            f"{self.gateway_url}/healthz",
        )

    # --- life cycle -------------------------------------------------------------------

    def prepare(self) -> None:
        """Databases (created if missing), their migrations, the nginx config."""
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)

        async def setup() -> None:
            for name in (self.members_db, self.claims_db):
                await ensure_database(self.postgres_url, name)
            await migrate(self.members_url, "members")
            await migrate(self.claims_url, "claims")

        try:
            run_async(setup)
        except (OSError, asyncpg.PostgresError) as exc:
            shown = make_url(self.postgres_url).render_as_string(hide_password=True)
            raise StackError(f"PostgreSQL at {shown}: {exc}") from exc
        write_run_dir(self.topology)

    def start(self) -> "SplitStack":
        self.prepare()
        try:
            for name in self.service_names:
                self.processes[name].start()
            for name in self.service_names:
                self.wait_ready(name)
            self.processes["nginx"].start()
            self.wait_ready("nginx")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """nginx first (no new requests), then claims, then the registry."""
        for name in ["nginx", *reversed(self.service_names)]:
            self.processes[name].stop()

    def __enter__(self) -> "SplitStack":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- single processes (fault injection, supervision) ------------------------------

    def kill(self, name: str) -> None:
        self.processes[name].kill()

    def restart(self, name: str, *, wait: bool = True) -> None:
        process = self.processes[name]
        process.stop()
        process.start()
        if wait:
            self.wait_ready(name)

    def pause(self, name: str) -> None:
        """SIGSTOP: the process keeps its port but answers nothing (a hung service)."""
        pid = self.processes[name].pid
        if pid:
            os.kill(pid, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        pid = self.processes[name].pid
        if pid:
            os.kill(pid, signal.SIGCONT)

    def wait_ready(self, name: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        process = self.processes[name]
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not process.running:
                raise StackError(f"{name} exited during start-up:\n{process.log_tail()}")
            try:
                response = httpx.get(process.health_url, timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise StackError(f"{name} not ready after {timeout:.0f} s ({last}):\n{process.log_tail()}")
