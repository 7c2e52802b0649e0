"""Render the nginx gateway from the routing table: one template for every topology.

`mutualaid up --split` renders it into its run directory with loopback upstreams; the compose
gateway container renders it at start (so that its configuration is environment variables
only) with `members:8000` / `claims:8000`:

    python -m services.stack.gateway.nginx --compose --run-dir /tmp/gateway --exec

Gateway settings come from the environment (see GatewaySettings): MUTUALAID_CORS_ORIGINS and
MUTUALAID_GATEWAY_*."""

import argparse
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit.routing import AUDIT_ENTITIES, AUDIT_PATH, PUBLIC_ROUTES, owner_of

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
# Paths that take uploaded files: a larger body limit and a longer read timeout.
UPLOAD_PREFIXES: tuple[str, ...] = (
    "/api/v1/enrollments/import",
    "/api/v1/enrollments/batch",
    "/api/v1/members/leaving",
    "/api/v1/claims/import",
)
"""Bulk routes: a whole unit in one request, so the larger body limit."""
UPLOAD_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^/api/v1/claims/[^/]+/documents$", "/api/v1/claims"),
)
"""Upload paths with an id inside (a claim's papers, up to 10 MiB each): a regular expression
and the routing prefix under which nginx nests it (a `^~` prefix stops nginx from looking at
regular expressions outside it)."""
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_SIZE = re.compile(r"^[0-9]+[km]?$")
_PLACEHOLDER = re.compile(r"\{\{ ([a-z_]+) \}\}")


class GatewaySettings(BaseSettings):
    """The gateway's limits; environment variables MUTUALAID_GATEWAY_* and
    MUTUALAID_CORS_ORIGINS (comma-separated origins of the web front ends)."""

    model_config = SettingsConfigDict(extra="ignore", env_prefix="MUTUALAID_GATEWAY_")

    cors_origins: str = Field(
        default="", validation_alias=AliasChoices("MUTUALAID_CORS_ORIGINS", "cors_origins")
    )
    rate_per_second: int = Field(default=20, ge=1)
    burst: int = Field(default=40, ge=0)
    max_body: str = "2m"
    upload_max_body: str = "20m"
    connect_timeout_seconds: int = Field(default=2, ge=1)
    read_timeout_seconds: int = Field(default=30, ge=1)
    upload_read_timeout_seconds: int = Field(default=120, ge=1)
    worker_processes: str = "auto"
    # What clients are allowed, the same in nginx and in `mutualaid up`'s embedded gateway:
    # the request line and headers together (nginx: 4 buffers of a quarter each, no header
    # line longer than one), how long a client may take to send them, between two reads of
    # its body, idle between two requests, and to take any of an answer waiting for it
    # (nginx's send_timeout; then the connection is closed).
    max_header_bytes: int = Field(default=32 * 1024, ge=4 * 1024)
    client_header_timeout_seconds: int = Field(default=15, ge=1)
    client_body_timeout_seconds: int = Field(default=30, ge=1)
    keepalive_timeout_seconds: int = Field(default=65, ge=1)
    send_timeout_seconds: int = Field(default=60, ge=1)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in _split(value):
            if not _ORIGIN.match(origin):
                raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
        return value

    @field_validator("max_body", "upload_max_body")
    @classmethod
    def _size(cls, value: str) -> str:
        if not _SIZE.match(value):
            raise ValueError(f"not an nginx size (like 2m, 512k): {value!r}")
        return value

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(_split(self.cors_origins))

    @property
    def max_body_bytes(self) -> int:
        return size_bytes(self.max_body)

    @property
    def upload_max_body_bytes(self) -> int:
        return size_bytes(self.upload_max_body)


def size_bytes(size: str) -> int:
    """An nginx size (`2m`, `512k`, `4096`) in bytes."""
    factor = {"k": 1024, "m": 1024 * 1024}.get(size[-1:], 1)
    return int(size.rstrip("km")) * factor


def _split(value: str) -> list[str]:
    return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]


@dataclass(frozen=True)
class Topology:
    """Where nginx listens, where the services are, where nginx keeps its files."""

    listen: str
    members: Sequence[str]
    claims: Sequence[str]
    run_dir: Path
    access_log: str = ""
    error_log: str = ""
    settings: GatewaySettings = field(default_factory=GatewaySettings)

    @classmethod
    def split(
        cls,
        *,
        port: int,
        members: Iterable[int],
        claims: Iterable[int],
        run_dir: Path,
        host: str = "127.0.0.1",
        settings: GatewaySettings | None = None,
    ) -> "Topology":
        return cls(
            listen=f"{host}:{port}",
            members=[f"127.0.0.1:{p}" for p in members],
            claims=[f"127.0.0.1:{p}" for p in claims],
            run_dir=run_dir,
            settings=settings or GatewaySettings(),
        )

    @classmethod
    def compose(cls, run_dir: Path, settings: GatewaySettings | None = None) -> "Topology":
        # docker's DNS gives every replica of `claims` (nginx resolves them at start).
        return cls(
            listen="8000",
            members=["members:8000"],
            claims=["claims:8000"],
            run_dir=run_dir,
            access_log="/dev/stdout",
            error_log="stderr",
            settings=settings or GatewaySettings(),
        )


def _servers(addresses: Sequence[str]) -> str:
    if not addresses:
        raise ValueError("an upstream needs at least one server")
    # A replica that refused a connection is left alone for 5 s while the others answer.
    return "\n".join(f"        server {a} max_fails=1 fail_timeout=5s;" for a in addresses)


def _location(
    match: str,
    upstream: str,
    burst: int,
    *,
    body: str = "",
    read_timeout: int | None = None,
    nested: Sequence[str] = (),
) -> str:
    lines = [f"        location {match} {{"]
    for block in nested:
        lines.extend("    " + line for line in block.splitlines())
    lines.append(f"            limit_req zone=mutualaid_per_client burst={burst} nodelay;")
    if body:
        lines.append(f"            client_max_body_size {body};")
    if read_timeout:
        lines.append(f"            proxy_read_timeout {read_timeout}s;")
        lines.append(f"            proxy_send_timeout {read_timeout}s;")
    lines.append("            if ($request_method = OPTIONS) {")
    lines.append("                return 204;")
    lines.append("            }")
    lines.append(f"            proxy_pass http://{upstream};")
    lines.append("        }")
    return "\n".join(lines)


def api_locations(settings: GatewaySettings) -> str:
    """`= prefix` and `^~ prefix/` per route: prefix matches on a segment boundary only, the
    longest prefix winning, as services.kit.routing.owner_of decides."""
    blocks = []
    for prefix, service in PUBLIC_ROUTES:
        # The audit log's owner depends on `?entity=`: a map picks the upstream.
        exact = "$mutualaid_audit_upstream" if prefix == AUDIT_PATH else service
        blocks.append(_location(f"= {prefix}", exact, settings.burst))
        nested = [
            _location(
                f"~ {pattern}",
                service,
                settings.burst,
                body=settings.upload_max_body,
                read_timeout=settings.upload_read_timeout_seconds,
            )
            for pattern, under in UPLOAD_PATTERNS
            if under == prefix
        ]
        blocks.append(_location(f"^~ {prefix}/", service, settings.burst, nested=nested))
    for prefix in UPLOAD_PREFIXES:
        service = owner_of(prefix)
        if service is None:
            raise ValueError(f"upload path {prefix} has no owner in the routing table")
        blocks.append(
            _location(
                f"= {prefix}",
                service,
                settings.burst,
                body=settings.upload_max_body,
                read_timeout=settings.upload_read_timeout_seconds,
            )
        )
    return "\n".join(blocks)


def render(topology: Topology) -> str:
    settings = topology.settings
    run_dir = topology.run_dir.resolve()
    values = {
        "generated_note": "generated from services/stack/gateway/nginx.conf.template",
        # As root, workers would drop to `nobody` and could not read a private run directory.
        "user": "user root;" if os.geteuid() == 0 else "",
        "worker_processes": settings.worker_processes,
        "run_dir": str(run_dir),
        "error_log": topology.error_log or str(run_dir / "logs" / "error.log"),
        "access_log": topology.access_log or str(run_dir / "logs" / "access.log"),
        "listen": topology.listen,
        "cors_origin_lines": "\n".join(
            f'        "{origin}" $http_origin;' for origin in settings.origins
        ),
        "rate_per_second": str(settings.rate_per_second),
        "burst": str(settings.burst),
        "members_servers": _servers(topology.members),
        "claims_servers": _servers(topology.claims),
        "max_body": settings.max_body,
        "upload_max_body": settings.upload_max_body,
        "connect_timeout": str(settings.connect_timeout_seconds),
        "read_timeout": str(settings.read_timeout_seconds),
        "header_buffer": str(settings.max_header_bytes // 4),
        "client_header_timeout": str(settings.client_header_timeout_seconds),
        "client_body_timeout": str(settings.client_body_timeout_seconds),
        "keepalive_timeout": str(settings.keepalive_timeout_seconds),
        "send_timeout": str(settings.send_timeout_seconds),
        "api_locations": api_locations(settings),
        "audit_default": owner_of(AUDIT_PATH) or "claims",
        "audit_entity_lines": "\n".join(
            f"        {entity} {service};" for entity, service in AUDIT_ENTITIES.items()
        ),
    }

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _PLACEHOLDER.sub(substitute, TEMPLATE.read_text())


def docs_html() -> str:
    """The same Swagger page as the embedded gateway's /docs."""
    from services.stack.gateway.embedded import docs_page

    return bytes(docs_page().body).decode()


def write_run_dir(topology: Topology) -> Path:
    """Write nginx.conf and static/docs.html, make the temp and log directories; returns the
    config's path."""
    run_dir = topology.run_dir.resolve()
    for sub in ("static", "logs", "tmp"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    (run_dir / "static" / "docs.html").write_text(docs_html())
    config = run_dir / "nginx.conf"
    config.write_text(render(replace(topology, run_dir=run_dir)))
    return config


def nginx_command(config: Path, nginx: str = "nginx") -> list[str]:
    run_dir = config.parent
    # -e: the error log before the config is read (the default one may not be writable).
    return [nginx, "-p", str(run_dir), "-c", str(config), "-e", "stderr", "-g", "daemon off;"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--compose", action="store_true", help="upstreams members:8000 and claims:8000"
    )
    parser.add_argument("--run-dir", default="/tmp/gateway")
    parser.add_argument("--stdout", action="store_true", help="print the config, write nothing")
    parser.add_argument("--exec", action="store_true", help="then replace this process by nginx")
    args = parser.parse_args(argv)
    if not args.compose:
        parser.error("only --compose is rendered here; `mutualaid up --split` renders its own")
    topology = Topology.compose(Path(args.run_dir))
    if args.stdout:
        sys.stdout.write(render(topology))
        return 0
    config = write_run_dir(topology)
    if args.exec:
        command = nginx_command(config)
        os.execvp(command[0], command)
    print(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
