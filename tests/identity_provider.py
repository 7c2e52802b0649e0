"""A real OpenID Connect provider for the tests, on loopback: `/.well-known/openid-configuration`
and `/jwks.json` served by a small HTTP server in a thread, keys generated here with
`cryptography`, tokens signed with PyJWT. It names roles as Keycloak does, in
`realm_access.roles`, as `mutualaid-<role>`."""

import json
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from services.kit.oidc import ProviderKeys

AUDIENCE = "mutualaid"
ROLE_MAP = {
    f"mutualaid-{role}": role
    for role in ("admin", "hr", "member", "reviewer", "finance", "auditor")
}

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class TestProvider:
    __test__ = False  # not a test class, whatever its name

    def __init__(self) -> None:
        self.keys: dict[str, PrivateKey] = {}
        self.published: list[str] = []
        self.jwks_requests = 0
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.add_key("rsa-1", "RS256")
        self.add_key("ec-1", "ES256")
        self.publish("rsa-1", "ec-1")

    # --- keys ---------------------------------------------------------------------------

    def add_key(self, kid: str, alg: str) -> None:
        self.keys[kid] = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if alg.startswith("RS")
            else ec.generate_private_key(ec.SECP256R1())
        )

    def publish(self, *kids: str) -> None:
        """The key set the provider serves from now on: these kids' public keys."""
        self.published = list(kids)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            private = self.keys[kid]
            if isinstance(private, rsa.RSAPrivateKey):
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
                jwk["alg"] = "RS256"
            else:
                jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
                jwk["alg"] = "ES256"
            keys.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": keys}

    # --- tokens -------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def claims(
        self,
        role: str,
        *,
        unit_id: str | None = None,
        member_id: str | None = None,
        sub: str | None = None,
        ttl: float = 600,
        **overrides: Any,
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": sub or f"{role}:{unit_id or member_id or 'local'}",
            "iat": now,
            "exp": now + int(ttl),
            "realm_access": {"roles": ["offline_access", f"mutualaid-{role}"]},
        }
        if unit_id:
            claims["unit_id"] = unit_id
        if member_id:
            claims["member_id"] = member_id
        return {**claims, **overrides}

    def sign(
        self,
        claims: dict[str, Any],
        kid: str = "rsa-1",
        alg: str | None = None,
        named_kid: str | None = None,
    ) -> str:
        """Signed by `kid`'s private key; the header names `named_kid` instead when given."""
        private = self.keys[kid]
        alg = alg or ("RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(claims, private, algorithm=alg, headers={"kid": named_kid or kid})

    def token(self, role: str, kid: str = "rsa-1", **fields: Any) -> str:
        return self.sign(self.claims(role, **fields), kid)

    def bearer(
        self, role: str, *, unit_id: str | None = None, member_id: str | None = None
    ) -> dict[str, str]:
        """tests.support.bearer's signature, the provider's token."""
        token = self.token(role, unit_id=unit_id, member_id=member_id)
        return {"Authorization": f"Bearer {token}"}

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The services' settings (field names) that trust this provider, by discovery."""
        return {
            "oidc_issuer": self.issuer,
            "oidc_audience": AUDIENCE,
            "oidc_role_claim": "realm_access.roles",
            "oidc_role_map": ROLE_MAP,
            **overrides,
        }

    # --- the server ---------------------------------------------------------------------

    def start(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": f"{provider.issuer}/jwks.json"}
                elif self.path == "/jwks.json":
                    provider.jwks_requests += 1
                    body = provider.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """The provider goes away: its port refuses connections (start() brings it back)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@asynccontextmanager
async def trusting(
    app: FastAPI, provider: TestProvider, **overrides: Any
) -> AsyncIterator[ProviderKeys]:
    """The app (already started) trusting the provider, with these settings, until the block
    ends: its settings and key set swapped, then put back."""
    saved = app.state.settings, app.state.identity_provider
    fields = {**saved[0].model_dump(), **provider.settings(**overrides)}
    settings = type(saved[0]).model_validate(fields)
    keys = ProviderKeys(settings)
    await keys.start()
    app.state.settings, app.state.identity_provider = settings, keys
    try:
        yield keys
    finally:
        app.state.settings, app.state.identity_provider = saved
