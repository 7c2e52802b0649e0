"""One routing table (services.kit.routing) decides who answers every public path.

Proved three ways: every path of both services' OpenAPI is owned by its service in the
table (and every path of API.md by the service its section names); through the real nginx
of the split topology, each such request is answered (logged, with its request id) by its
owner's process and no other; and the embedded gateway of `mutualaid up` sends the same
requests to the same owners."""

import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.kit.routing import (
    AUDIT_ENTITIES,
    AUDIT_PATH,
    PUBLIC_ROUTES,
    entities_of,
    owner_of,
)
from services.stack.gateway.embedded import create_gateway
from services.stack.gateway.nginx import UPLOAD_PREFIXES, GatewaySettings, api_locations
from services.stack.launcher import SplitStack
from tests.split_stack import owner, wait_for_logs

API_MD = Path(__file__).resolve().parents[2] / "shared" / "spec" / "API.md"
# API.md's paths, kept in the repository for a clone without ../shared beside it
API_MD_PATHS = Path(__file__).resolve().parent / "api_md_paths.txt"
OWN_PATHS = {"/healthz"}  # each service's own; through the gateway: /healthz/<service>


def paths_of_api_md(text: str) -> list[tuple[str, str]]:
    """(service of the section, path) for every /api/v1 path of API.md's tables."""
    section, found = None, []
    for line in text.splitlines():
        if line.startswith("## "):
            section = {"## Member registry": "members", "## Claims": "claims"}.get(
                line.split(" (")[0]
            )
        if section and line.startswith("|"):
            for path in re.findall(r"(/api/v1/[A-Za-z0-9_/{}.-]*)", line):
                found.append((section, path.rstrip("/")))
    return found


def contract_paths() -> list[tuple[str, str]]:
    """API.md's paths from the kept copy; when API.md is beside the repository, the copy is
    first checked to be its paths still."""
    lines = API_MD_PATHS.read_text().splitlines()
    kept = [tuple(line.split(" ", 1)) for line in lines if line and not line.startswith("#")]
    if API_MD.exists():
        assert kept == paths_of_api_md(API_MD.read_text()), f"{API_MD_PATHS} is out of date"
    return kept  # type: ignore[return-value]


def service_apps(tmp: Path) -> dict[str, FastAPI]:
    from claims_api.app import create_app as create_claims
    from claims_api.settings import ClaimsSettings
    from members_api.app import create_app as create_members
    from members_api.settings import MembersSettings

    return {
        "members": create_members(MembersSettings(database_url=f"sqlite:///{tmp}/m.db")),
        "claims": create_claims(ClaimsSettings(database_url=f"sqlite:///{tmp}/c.db")),
    }


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FastAPI]:
    return service_apps(tmp_path_factory.mktemp("routing"))


def operations(apps: dict[str, FastAPI]) -> list[tuple[str, str, str]]:
    """(service, METHOD, path template) for every operation in both OpenAPI documents."""
    found = []
    for service, app in apps.items():
        for path, methods in app.openapi()["paths"].items():
            for method in methods:
                found.append((service, method.upper(), path))
    return found


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "probe_0001", template)


def probe(service: str, template: str) -> tuple[str, dict[str, str]]:
    """A request path for the template, and the query that picks the owner where one does
    (the audit log: `?entity=` of one of the service's own records)."""
    if template == AUDIT_PATH:
        return template, {"entity": entities_of(service)[0]}  # type: ignore[arg-type]
    return concrete(template), {}


def owner_of_probe(service: str, template: str) -> str | None:
    path, query = probe(service, template)
    return owner_of(path, query.get("entity"))


class TestTheTable:
    def test_every_openapi_path_belongs_to_its_service(self, apps: dict[str, FastAPI]) -> None:
        wrong = [
            (service, path, owner_of_probe(service, path))
            for service, _method, path in operations(apps)
            if path not in OWN_PATHS and owner_of_probe(service, path) != service
        ]
        assert wrong == []

    def test_the_audit_log_goes_to_the_owner_of_the_entity(self) -> None:
        assert set(AUDIT_ENTITIES.values()) == {"members", "claims"}
        for entity, service in AUDIT_ENTITIES.items():
            assert owner_of(AUDIT_PATH, entity) == service
        assert owner_of(AUDIT_PATH) == "claims"

    def test_every_path_of_api_md_belongs_to_the_service_of_its_section(self) -> None:
        contract = contract_paths()
        wrong = [
            (section, path)
            for section, path in contract
            if owner_of_probe(section, path) != section
        ]
        assert len(contract) > 20 and wrong == []

    def test_prefixes_match_on_segment_boundaries_only(self) -> None:
        assert owner_of("/api/v1/claims") == "claims"
        assert owner_of("/api/v1/claims/clm_1/decision") == "claims"
        assert owner_of("/api/v1/claimsX") is None
        assert owner_of("/api/v1/reports/enrollment") == "members"
        assert owner_of("/api/v1/reports/claims") == "claims"
        assert owner_of("/api/v1/reports") is None
        assert owner_of("/metrics") is None

    def test_nginx_has_one_exact_and_one_prefix_location_per_route(self) -> None:
        rendered = api_locations(GatewaySettings())
        blocks = {
            f"{kind} {path}": re.search(r"proxy_pass http://(\S+);", body).group(1)  # type: ignore[union-attr]
            for kind, path, body in re.findall(
                r"location (=|\^~) (\S+) \{(.*?)\n        \}", rendered, re.S
            )
        }
        expected = {}
        for prefix, service in PUBLIC_ROUTES:
            expected[f"= {prefix}"] = service
            expected[f"^~ {prefix}/"] = service
        expected[f"= {AUDIT_PATH}"] = "$mutualaid_audit_upstream"
        for prefix in UPLOAD_PREFIXES:
            expected[f"= {prefix}"] = owner_of(prefix)
        assert blocks == expected


def _request(client: Any, service: str, method: str, template: str, rid: str) -> Any:
    path, query = probe(service, template)
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, path, params=query, json=body, headers={"X-Request-ID": rid})


def _request_paced(client: httpx.Client, service: str, method: str, template: str, rid: str) -> Any:
    path, query = probe(service, template)
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return _paced(client, method, path, params=query, json=body, headers={"X-Request-ID": rid})


def _paced(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """The request, sent again after the gateway's Retry-After while it answers 429: one
    request per operation of both services is more than the stack's burst (tests.split_stack),
    and a refused one never reaches the service whose log the test reads."""
    for _ in range(20):
        response = client.request(method, path, **kwargs)
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("retry-after", "1")))
    raise AssertionError(f"{method} {path}: still rate-limited after 20 tries")


def audit_probes() -> list[tuple[str, str, str]]:
    """(expected owner, entity or "", request id) for every audit entity and for none."""
    probes = [
        (service, entity, f"audit-{uuid.uuid4().hex}") for entity, service in AUDIT_ENTITIES.items()
    ]
    return [*probes, ("claims", "", f"audit-{uuid.uuid4().hex}")]


@pytest.mark.e2e
class TestThroughNginx:
    def test_every_openapi_path_reaches_its_owner_through_nginx(
        self, split_stack: SplitStack, apps: dict[str, FastAPI]
    ) -> None:
        sent: dict[str, tuple[str, str, str]] = {}
        with httpx.Client(base_url=split_stack.gateway_url, timeout=10) as gateway:
            for service, method, path in operations(apps):
                if path in OWN_PATHS:
                    answer = _paced(gateway, "GET", f"{path}/{service}")
                    assert answer.json()["service"] == service
                    continue
                rid = f"route-{uuid.uuid4().hex}"
                response = _request_paced(gateway, service, method, path, rid)
                assert response.headers["x-request-id"] == rid
                sent[rid] = (service, method, path)
            for service, entity, rid in audit_probes():
                params = {"entity": entity} if entity else {}
                _paced(gateway, "GET", AUDIT_PATH, params=params, headers={"X-Request-ID": rid})
                sent[rid] = (service, "GET", f"{AUDIT_PATH}?entity={entity}")
            for service in apps:
                documented = gateway.get(f"/openapi/{service}.json").json()["paths"]
                assert set(documented) == set(apps[service].openapi()["paths"])
        logged = wait_for_logs(split_stack, list(sent))
        answered = {rid: {owner(name) for name in logged[rid]} for rid in sent}
        wrong = {sent[rid]: who for rid, who in answered.items() if who != {sent[rid][0]}}
        assert wrong == {}


class TestEmbedded:
    async def test_the_embedded_gateway_sends_every_path_to_the_same_owner(
        self, apps: dict[str, FastAPI]
    ) -> None:
        received: list[tuple[str, str]] = []

        def recorder(name: str) -> Any:
            async def app(scope: Any, receive: Any, send: Any) -> None:
                headers = dict(scope["headers"])
                received.append((name, headers[b"x-request-id"].decode()))
                await send({"type": "http.response.start", "status": 204, "headers": []})
                await send({"type": "http.response.body", "body": b""})

            return app

        gateway = create_gateway(apps["members"], apps["claims"])
        gateway.services = {name: recorder(name) for name in apps}
        transport = httpx.ASGITransport(app=gateway)
        sent: dict[str, str] = {}
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            for service, method, path in operations(apps):
                if path in OWN_PATHS:
                    continue
                rid = f"route-{uuid.uuid4().hex}"
                await _request(client, service, method, path, rid)
                sent[rid] = service
            for service, entity, rid in audit_probes():
                params = {"entity": entity} if entity else {}
                await client.get(AUDIT_PATH, params=params, headers={"X-Request-ID": rid})
                sent[rid] = service
            for path in ("/metrics", "/api/v1/unitsX"):
                assert (await client.get(path)).status_code == 404
        assert dict((rid, name) for name, rid in received) == sent
