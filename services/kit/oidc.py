"""Tokens from the federation's identity provider (OpenID Connect): its published key set,
fetched at start and cached, and where its tokens carry the project's role, unit and member.

The key set is fetched with httpx (never urllib in the event loop) and held as PyJWT `PyJWK`s,
each bound to the one algorithm of its key: a token cannot choose another (README, "Tokens
from an identity provider")."""

import asyncio
import time
from collections import OrderedDict
from typing import Any

import httpx
import jwt
import structlog

from services.kit.settings import ServiceSettings

log = structlog.get_logger()

VERIFIED_TOKENS_KEPT = 4096


class IdentityProviderUnavailable(RuntimeError):
    """The provider's discovery document or key set could not be fetched or read."""


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """The claim a dotted path names (`realm_access.roles`); None when any step is missing."""
    value: Any = claims
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


class ProviderKeys:
    """The provider's signing keys by `kid`. An unknown `kid` fetches the set again, at most
    once per `oidc_jwks_refresh_seconds` (a flood of made-up kids costs the provider one
    request per interval); a failed fetch keeps the keys already held."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.jwks_url = settings.oidc_jwks_url
        self.fetches = 0
        """Key-set requests made (tests read it)."""
        self._keys: dict[str, jwt.PyJWK] = {}
        self._published: dict[str, dict[str, Any]] = {}
        self._last_attempt = float("-inf")
        self._lock = asyncio.Lock()
        self._verified: OrderedDict[str, tuple[Any, float]] = OrderedDict()

    @property
    def discovery_url(self) -> str:
        # an issuer written with its trailing slash (Auth0's) names the same document
        return f"{str(self.settings.oidc_issuer).rstrip('/')}/.well-known/openid-configuration"

    @property
    def where(self) -> str:
        return self.jwks_url or self.discovery_url

    async def start(self) -> None:
        """Fetch the key set. Production does not start without it; elsewhere one warning
        line, and the next unknown `kid` tries again."""
        try:
            await self._refresh()
        except IdentityProviderUnavailable as exc:
            if self.settings.environment == "production":
                raise
            log.warning("identity_provider_unavailable", error=str(exc))

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)  # a refresh another request waited for may have it
            if key is not None:
                return key
            waited = time.monotonic() - self._last_attempt
            if waited < self.settings.oidc_jwks_refresh_seconds:
                return None
            try:
                await self._refresh()
            except IdentityProviderUnavailable as exc:
                log.warning("identity_provider_unavailable", error=str(exc))
                return None
        return self._keys.get(kid)

    def remembered(self, token: str) -> tuple[Any, float] | None:
        """What verifying this token gave, while the key set that verified it is unchanged."""
        return self._verified.get(token)

    def remember(self, token: str, verified: tuple[Any, float]) -> None:
        self._verified[token] = verified
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)

    async def _refresh(self) -> None:
        self._last_attempt = time.monotonic()
        timeout = httpx.Timeout(self.settings.oidc_fetch_timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            if self.jwks_url is None:
                self.jwks_url = await self._discovered_jwks_url(client)
            self.fetches += 1
            document = await _json(client, self.jwks_url)
        published = _published_keys(document, self.jwks_url)
        if published != self._published:
            keys = {kid: key for kid, jwk in published.items() if (key := self._usable(jwk))}
            self._keys, self._published = keys, published
            self._verified.clear()  # a key withdrawn: what it verified is verified again
            log.info("identity_provider_keys", url=self.jwks_url, kids=sorted(keys))

    async def _discovered_jwks_url(self, client: httpx.AsyncClient) -> str:
        url = self.discovery_url
        discovery = await _json(client, url)
        issuer, jwks_uri = discovery.get("issuer"), discovery.get("jwks_uri")
        if issuer is not None and str(issuer).rstrip("/") != self.settings.oidc_issuer.rstrip("/"):
            raise IdentityProviderUnavailable(
                f"{url} names the issuer {issuer!r}, not {self.settings.oidc_issuer!r}"
            )
        if not isinstance(jwks_uri, str):
            raise IdentityProviderUnavailable(f"{url} has no jwks_uri")
        return jwks_uri

    def _usable(self, jwk: dict[str, Any]) -> jwt.PyJWK | None:
        """A signing key of an allowed algorithm; anything else (an `oct` secret, an
        encryption key, a curve PyJWT does not know) is never used."""
        if jwk.get("use", "sig") != "sig":
            return None
        try:
            key = jwt.PyJWK(jwk)
        except jwt.PyJWTError:
            return None
        return key if key.algorithm_name in self.settings.oidc_algorithms else None


async def _json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IdentityProviderUnavailable(
            f"the identity provider at {url} could not be read: {reason}"
        ) from None
    if not isinstance(document, dict):
        raise IdentityProviderUnavailable(f"{url} did not answer a JSON object")
    return document


def _published_keys(document: dict[str, Any], url: str) -> dict[str, dict[str, Any]]:
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise IdentityProviderUnavailable(f"{url} is not a JWK set (no `keys` list)")
    return {
        jwk["kid"]: jwk for jwk in keys if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str)
    }
