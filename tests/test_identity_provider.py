"""Tokens of the federation's identity provider: a real OpenID Connect provider on loopback
(tests/identity_provider.py) and the registry, on its own SQLite database, trusting it.
The whole authorisation matrix with its tokens: tests/test_authorization_matrix.py."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from pydantic import ValidationError

from members_api.app import create_app
from members_api.settings import MembersSettings
from services.kit import clock
from services.kit.auth import authenticate
from services.kit.errors import Unauthorized
from services.kit.oidc import IdentityProviderUnavailable, ProviderKeys
from tests.dates import clock_at
from tests.identity_provider import AUDIENCE, TestProvider, trusting
from tests.support import ADMIN, bearer, new_member, new_unit

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/mutualaid"


@pytest.fixture(scope="module")
def running_provider() -> Iterator[TestProvider]:
    provider = TestProvider()
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
def provider(running_provider: TestProvider) -> Iterator[TestProvider]:
    """The provider as it starts: rsa-1 and ec-1 published, no key set requested yet."""
    if running_provider._server is None:
        running_provider.start()
    running_provider.publish("rsa-1", "ec-1")
    running_provider.jwks_requests = 0
    yield running_provider


@pytest.fixture(scope="module")
async def registry(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    path = tmp_path_factory.mktemp("provider") / "members.db"
    app = create_app(
        MembersSettings(database_url=f"sqlite+aiosqlite:///{path}", environment="test")
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def client(registry: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=registry)
    async with httpx.AsyncClient(transport=transport, base_url="http://members") as client:
        yield client


@pytest.fixture(scope="module")
async def people(client: httpx.AsyncClient) -> dict[str, str]:
    """Units A and B, a worker in each (made with a local admin token: the test environment
    accepts both kinds)."""
    unit_a, unit_b = await new_unit(client, "甲单位"), await new_unit(client, "乙单位")
    return {
        "unit_a": unit_a,
        "unit_b": unit_b,
        "m1": await new_member(client, unit_a),
        "m2": await new_member(client, unit_b),
    }


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _status(client: httpx.AsyncClient, member: str, token: str) -> int:
    response = await client.get(f"/api/v1/members/{member}", headers=_headers(token))
    if response.status_code == 401:
        assert response.headers["content-type"] == "application/problem+json"
    return response.status_code


async def _detail(client: httpx.AsyncClient, member: str, token: str) -> str:
    response = await client.get(f"/api/v1/members/{member}", headers=_headers(token))
    assert response.status_code == 401, response.text
    return response.json()["detail"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _hs256_signed_with(secret: bytes, header: dict, claims: dict) -> str:
    """Built by hand: PyJWT itself refuses to use a PEM public key as an HMAC secret."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- accepted, and mapped --------------------------------------------------------------------


async def test_a_provider_token_is_accepted_with_keys_found_by_discovery(
    provider, registry, client, people
):
    async with trusting(registry, provider) as keys:
        assert keys.jwks_url == f"{provider.issuer}/jwks.json"
        for kid in ("rsa-1", "ec-1"):  # RS256 and ES256
            assert await _status(client, people["m1"], provider.token("admin", kid=kid)) == 200
        assert provider.jwks_requests == 1  # fetched at start, then cached


async def test_a_flat_roles_list_with_the_projects_names_needs_no_map(
    provider, registry, client, people
):
    claims = provider.claims("auditor", roles=["auditor", "uma_authorization"])
    del claims["realm_access"]
    async with trusting(registry, provider, oidc_role_claim="roles", oidc_role_map={}):
        assert await _status(client, people["m1"], provider.sign(claims)) == 200


async def test_a_token_naming_no_role_or_two_roles_is_refused(provider, registry, client, people):
    two = provider.claims("admin")
    two["realm_access"]["roles"].append("mutualaid-finance")
    none = provider.claims("admin", realm_access={"roles": ["offline_access"]})
    async with trusting(registry, provider):
        assert "['admin', 'finance']" in await _detail(client, people["m1"], provider.sign(two))
        assert "none" in await _detail(client, people["m1"], provider.sign(none))


async def test_an_hr_token_sees_its_own_unit_only(provider, registry, client, people):
    async with trusting(registry, provider):
        hr = provider.token("hr", unit_id=people["unit_a"])
        assert await _status(client, people["m1"], hr) == 200
        assert await _status(client, people["m2"], hr) == 404
        without_unit = provider.token("hr")
        assert "unit_id" in await _detail(client, people["m1"], without_unit)


async def test_a_member_token_sees_herself_by_the_claim_the_settings_name(
    provider, registry, client, people
):
    claims = provider.claims("member", federation={"member_no": people["m1"]})
    async with trusting(registry, provider, oidc_member_claim="federation.member_no"):
        assert await _status(client, people["m1"], provider.sign(claims)) == 200
        assert await _status(client, people["m2"], provider.sign(claims)) == 404
        # the default claim name no longer counts
        default_named = provider.token("member", member_id=people["m1"])
        assert "member_id" in await _detail(client, people["m1"], default_named)


@pytest.mark.parametrize("sub", ["system", "SYSTEM", "ｓｙｓｔｅｍ", " System "])
async def test_no_provider_token_may_be_the_system(provider, registry, client, people, sub):
    async with trusting(registry, provider):
        token = provider.token("admin", sub=sub)
        assert "reserved" in await _detail(client, people["m1"], token)


async def test_the_principal_carries_the_providers_token_for_the_registry_call(provider):
    settings = MembersSettings(environment="test", **provider.settings())
    keys = ProviderKeys(settings)
    await keys.start()
    token = provider.token("finance", sub="Fin.Officer")
    principal = await authenticate(token, settings, keys)
    assert (principal.sub, principal.role, principal.bearer_token) == (
        "Fin.Officer",
        "finance",
        token,
    )


# --- refused: claims, algorithms ---------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"iss": "http://127.0.0.1:1/realms/other"}, "issuer"),
        ({"aud": "another-application"}, "audience"),
        # Times as offsets from the moment the token is signed, not from collection: the
        # suite runs for minutes before this test does.
        ({"exp": -120}, "expired"),
        ({"nbf": +120}, "not yet valid"),
    ],
    ids=["wrong-issuer", "wrong-audience", "expired", "not-yet-valid"],
)
async def test_a_token_not_meant_for_us_or_not_valid_now_is_refused(
    provider, registry, client, people, overrides, reason
):
    now = int(time.time())
    claims = {k: now + v if k in ("exp", "nbf") else v for k, v in overrides.items()}
    async with trusting(registry, provider):
        token = provider.sign(provider.claims("admin", **claims))
        assert reason in (await _detail(client, people["m1"], token)).lower()


async def test_the_clock_leeway_forgives_a_few_seconds_only(provider, registry, client, people):
    now = int(time.time())
    async with trusting(registry, provider, oidc_leeway_seconds=30):
        just_expired = provider.sign(provider.claims("admin", exp=now - 10))
        almost_valid = provider.sign(provider.claims("admin", nbf=now + 10))
        assert await _status(client, people["m1"], just_expired) == 200
        assert await _status(client, people["m1"], almost_valid) == 200
    async with trusting(registry, provider, oidc_leeway_seconds=0):
        assert await _status(client, people["m1"], just_expired) == 401


async def test_alg_confusion_is_refused(provider, registry, client, people):
    claims = provider.claims("admin")
    public_pem = (
        provider.keys["rsa-1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    unsigned_header = _b64(json.dumps({"alg": "none", "kid": "rsa-1"}).encode())
    forged = {
        "alg-none": f"{unsigned_header}.{_b64(json.dumps(claims).encode())}.",
        "hs256-with-the-public-pem": _hs256_signed_with(
            public_pem, {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims
        ),
        # signed by the EC key, but naming the RSA key's kid
        "es256-under-an-rsa-kid": provider.sign(claims, kid="ec-1", named_kid="rsa-1"),
    }
    async with trusting(registry, provider):
        assert await _status(client, people["m1"], provider.sign(claims)) == 200
        for name, token in forged.items():
            assert await _status(client, people["m1"], token) == 401, name
    # and where local tokens are refused, an HS256 token is refused before any key is tried
    production = _production_settings(provider)
    with pytest.raises(Unauthorized, match="local"):
        await authenticate(forged["hs256-with-the-public-pem"], production, None)


@pytest.mark.parametrize("algorithms", [["HS256"], ["RS256", "none"], []])
def test_the_allowed_algorithms_are_public_key_ones(provider, algorithms):
    with pytest.raises(ValidationError, match="public-key algorithms only"):
        MembersSettings(**provider.settings(oidc_algorithms=algorithms))


# --- the key set: rotation, floods, the provider down ----------------------------------------


async def test_a_rotated_key_is_accepted_once_published_and_a_withdrawn_one_refused(
    provider, registry, client, people
):
    provider.add_key("rsa-2", "RS256")
    async with trusting(registry, provider, oidc_jwks_refresh_seconds=0.2):
        old = provider.token("admin", kid="rsa-1")
        assert await _status(client, people["m1"], old) == 200
        new = provider.token("admin", kid="rsa-2")
        await asyncio.sleep(0.25)
        assert await _status(client, people["m1"], new) == 401  # not published yet
        provider.publish("rsa-2", "ec-1")  # rsa-1 withdrawn
        await asyncio.sleep(0.25)
        assert await _status(client, people["m1"], new) == 200  # unknown kid: refreshed
        # the old token worked (and was remembered) before: not after its key is withdrawn
        assert await _status(client, people["m1"], old) == 401
        assert provider.jwks_requests == 3


async def test_a_flood_of_unknown_kids_fetches_the_key_set_once_per_interval(
    provider, registry, client, people
):
    claims = provider.claims("admin")
    forged = [provider.sign(claims, named_kid=f"made-up-{n}") for n in range(200)]
    async with trusting(registry, provider, oidc_jwks_refresh_seconds=60):
        statuses = await asyncio.gather(*(_status(client, people["m1"], t) for t in forged))
    assert set(statuses) == {401}
    assert provider.jwks_requests <= 2  # the start's fetch, and at most one refresh


async def test_keys_already_fetched_keep_working_while_the_provider_is_down(
    provider, registry, client, people
):
    async with trusting(registry, provider, oidc_jwks_refresh_seconds=0):
        provider.stop()
        try:
            fresh = provider.token("reviewer", kid="ec-1")  # never seen: verified now
            assert await _status(client, people["m1"], fresh) == 200
            stranger = provider.sign(provider.claims("admin"), named_kid="gone")
            assert await _status(client, people["m1"], stranger) == 401  # refresh failed
        finally:
            provider.start()


def _production_settings(provider: TestProvider, **overrides) -> MembersSettings:
    with clock_at(None):  # production runs on the real clock
        return MembersSettings(
            environment="production",
            database_url=POSTGRES_URL,
            **provider.settings(**overrides),
        )


async def test_production_does_not_start_without_the_providers_keys(provider):
    dead = _dead_url()
    settings = _production_settings(provider, oidc_issuer=dead)
    app = create_app(settings)
    with pytest.raises(IdentityProviderUnavailable) as refused:
        async with app.router.lifespan_context(app):
            pass
    message = str(refused.value)
    assert "\n" not in message
    assert f"{dead}/.well-known/openid-configuration" in message


async def test_development_starts_without_them_says_so_and_fetches_them_later(
    provider, registry, client, people, capsys
):
    url = f"{provider.issuer}/jwks.json"
    provider.stop()
    capsys.readouterr()
    try:
        async with trusting(registry, provider, oidc_jwks_url=url, oidc_jwks_refresh_seconds=0.2):
            [warning] = [
                json.loads(line)
                for line in capsys.readouterr().err.splitlines()
                if "identity_provider_unavailable" in line
            ]
            assert url in warning["error"]
            token = provider.token("admin")
            assert await _status(client, people["m1"], token) == 401
            assert await _status(client, people["m1"], ADMIN["Authorization"][7:]) == 200
            provider.start()
            await asyncio.sleep(0.25)
            assert await _status(client, people["m1"], token) == 200
    finally:
        if provider._server is None:
            provider.start()


# --- production settings --------------------------------------------------------------------


def test_production_needs_an_issuer_and_audience_or_local_tokens_allowed(provider, monkeypatch):
    monkeypatch.delenv("MUTUALAID_JWT_SECRET", raising=False)
    with clock_at(None):
        with pytest.raises(ValidationError, match="MUTUALAID_OIDC_ISSUER and MUTUALAID_OIDC_AUDI"):
            MembersSettings(environment="production", database_url=POSTGRES_URL)
        with pytest.raises(ValidationError, match="needs MUTUALAID_OIDC_AUDIENCE"):
            MembersSettings(
                environment="production", database_url=POSTGRES_URL, oidc_issuer=provider.issuer
            )
    # with a provider, no shared secret is needed: local tokens are not accepted at all
    settings = _production_settings(provider)
    assert settings.oidc_audience == AUDIENCE and not settings.local_tokens_accepted


async def test_production_refuses_local_tokens_unless_allowed(provider):
    local = bearer("admin")["Authorization"][7:]
    keys = ProviderKeys(_production_settings(provider))
    await keys.start()
    with pytest.raises(Unauthorized, match="local"):
        await authenticate(local, keys.settings, keys)
    allowed = _production_settings(provider, allow_local_tokens=True, jwt_secret="k" * 40)
    signed = bearer("admin", secret="k" * 40)["Authorization"][7:]
    assert (await authenticate(signed, allowed, keys)).role == "admin"


def test_the_test_provider_serves_its_documents(provider):
    discovery = httpx.get(f"{provider.issuer}/.well-known/openid-configuration").json()
    assert discovery["jwks_uri"].endswith("/jwks.json")
    kids = [key["kid"] for key in httpx.get(discovery["jwks_uri"]).json()["keys"]]
    assert kids == ["rsa-1", "ec-1"]


# --- `mutualaid token` ------------------------------------------------------------------------


def _token_command(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != clock.PIN_VARIABLE}
    command = [sys.executable, "-m", "services.stack.cli", "token", "--role", "admin"]
    return subprocess.run(
        command, capture_output=True, text=True, env={**environment, **env}, timeout=60
    )


def test_the_token_command_refuses_in_production_unless_local_tokens_are_allowed():
    provider = {"MUTUALAID_OIDC_ISSUER": "https://id.example.org", "MUTUALAID_OIDC_AUDIENCE": "x"}
    refused = _token_command(MUTUALAID_ENVIRONMENT="production", **provider)
    assert refused.returncode == 1 and not refused.stdout
    [line] = refused.stderr.strip().splitlines()
    assert "local tokens are for development" in line and "MUTUALAID_ALLOW_LOCAL_TOKENS" in line
    allowed = _token_command(
        MUTUALAID_ENVIRONMENT="production",
        MUTUALAID_ALLOW_LOCAL_TOKENS="true",
        MUTUALAID_JWT_SECRET="k" * 40,
    )
    assert allowed.returncode == 0, allowed.stderr
    assert jwt.get_unverified_header(allowed.stdout.strip())["alg"] == "HS256"


async def test_an_issuer_written_with_a_trailing_slash_is_compared_as_written(
    provider, registry, client, people
):
    """Auth0 and others put the slash in `iss`: the setting is compared as configured (the
    discovery URL is built without doubling it)."""
    issuer = f"{provider.issuer}/"
    async with trusting(registry, provider, oidc_issuer=issuer):
        token = provider.sign(provider.claims("admin", iss=issuer))
        assert await _status(client, people["m1"], token) == 200
        without = provider.sign(provider.claims("admin"))
        assert "issuer" in (await _detail(client, people["m1"], without)).lower()


@pytest.mark.parametrize("sub", ["sys\u200btem", "sys\u00adtem", "alice\u200b", "bob\x00"])
async def test_a_sub_with_invisible_characters_is_refused(provider, registry, client, people, sub):
    """A zero-width space would make "sys\\u200btem" another person than "system", printed alike."""
    async with trusting(registry, provider):
        token = provider.sign(provider.claims("admin", sub=sub))
        assert "invisible" in await _detail(client, people["m1"], token)


@pytest.mark.parametrize("unit_id", ["", "u" * 41, 7, ["unt_a"]])
async def test_an_hr_token_must_name_a_unit_id_as_the_services_make_them(
    provider, registry, client, people, unit_id
):
    async with trusting(registry, provider):
        token = provider.sign(provider.claims("hr", unit_id=unit_id))
        assert "unit_id" in await _detail(client, people["m1"], token)
