"""Bearer JWTs with the roles of DOMAIN.md, and the `Principal` every route receives: local
HS256 tokens (`mutualaid token`), and the identity provider's (services.kit.oidc)."""

import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.kit.errors import Forbidden, NotFound, Unauthorized
from services.kit.oidc import ProviderKeys, claim_at
from services.kit.settings import ServiceSettings

ALGORITHM = "HS256"
# The actor the services name for what they do themselves (a claim approved within the plan's
# auto-approval limit). No token may carry it as its `sub`, in any case or width, so that a
# person can never pass for the system, nor be refused as if they had approved what it did.
SYSTEM_ACTOR = "system"


class Role(StrEnum):
    admin = "admin"
    hr = "hr"
    member = "member"
    reviewer = "reviewer"
    finance = "finance"
    auditor = "auditor"


@dataclass(frozen=True)
class Principal:
    sub: str
    role: Role
    unit_id: str | None = None
    member_id: str | None = None
    # The token it came with, for a call made on the caller's behalf (claims -> registry);
    # never logged, never compared.
    bearer_token: str = field(default="", repr=False, compare=False)

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"role {self.role} may not do this")

    def can_see_unit(self, unit_id: str | None) -> bool:
        if self.role in (Role.admin, Role.auditor, Role.reviewer, Role.finance):
            return True
        return self.role == Role.hr and unit_id is not None and unit_id == self.unit_id

    def check_unit(self, unit_id: str | None, what: str = "record") -> None:
        """Another unit's record is answered as if it did not exist."""
        if not self.can_see_unit(unit_id):
            raise NotFound(f"{what} not found")


MAX_SUB_CHARS = 200
"""A token's `sub` is recorded as who did what (audit actor, submitted_by, approved_by: 200
characters); providers' subjects are ids well under it (Keycloak: a 36-character UUID)."""


def same_person(first: str | None, second: str | None) -> bool:
    """Two tokens' `sub` name one person, whatever the letter case (separation of duties:
    `ALICE` must not pay what `alice` approved), nor its width (fullwidth `ａｌｉｃｅ` is
    `alice`): NFKC-normalised, then case-folded."""
    if first is None or second is None:
        return False
    return _person_key(first) == _person_key(second)


def _person_key(sub: str) -> str:
    return unicodedata.normalize("NFKC", sub).strip().casefold()


def issue_token(
    secret: str,
    *,
    role: Role | str,
    sub: str | None = None,
    unit_id: str | None = None,
    member_id: str | None = None,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    role = Role(role)
    # Real time, not the scheme's clock: PyJWT checks `exp` against the host's time.time(),
    # and a clock pinned for tests must not mint tokens that are already expired.
    now = datetime.now(UTC)  # noqa: TID251
    claims: dict[str, object] = {
        "sub": sub or f"{role.value}:{unit_id or member_id or 'local'}",
        "role": role.value,
        "iat": now,
        "exp": now + ttl,
    }
    if unit_id:
        claims["unit_id"] = unit_id
    if member_id:
        claims["member_id"] = member_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str) -> Principal:
    """The token's principal. A token seen before is not verified again (the claims service
    and the registry each decode a member's token on every claim filed, README: performance),
    but its expiry is checked on every use."""
    principal, expires_at = _verified(token, secret)
    if expires_at <= time.time():
        raise Unauthorized("the token has expired")
    return principal


# lru_cache keeps only what returned: a refused token is verified (and refused) every time.
@lru_cache(maxsize=4096)
def _verified(token: str, secret: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "role"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired") from None
    except (jwt.InvalidTokenError, RecursionError) as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    principal = _checked_principal(
        claims["sub"], claims["role"], claims.get("unit_id"), claims.get("member_id"), token
    )
    return principal, float(claims["exp"])


def _checked_principal(
    sub: Any, role_name: Any, unit_id: Any, member_id: Any, token: str
) -> Principal:
    """What both kinds of token must satisfy: a known role, a sub that is not the system's,
    an hr token's unit and a member token's member."""
    try:
        role = Role(role_name)
    except ValueError:
        raise Unauthorized(f"invalid token: unknown role {role_name!r}") from None
    if not isinstance(sub, str) or not sub.strip():
        raise Unauthorized("invalid token: no sub")
    if len(sub) > MAX_SUB_CHARS:
        raise Unauthorized(f"invalid token: sub longer than {MAX_SUB_CHARS} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in sub):
        # invisible characters would make "sys\u200btem" another person than "system"
        raise Unauthorized("invalid token: sub holds control or invisible characters")
    if same_person(sub, SYSTEM_ACTOR):
        raise Unauthorized(f"invalid token: sub {SYSTEM_ACTOR!r} is reserved for the services")
    if role == Role.hr and not _is_id(unit_id):
        raise Unauthorized("invalid token: an hr token must name its unit_id")
    if role == Role.member and not _is_id(member_id):
        raise Unauthorized("invalid token: a member token must name its member_id")
    return Principal(
        sub=sub,
        role=role,
        unit_id=unit_id if role == Role.hr else None,
        member_id=member_id if role == Role.member else None,
        bearer_token=token,
    )


def _is_id(value: Any) -> bool:
    """A unit's or member's id as the services make them (at most 40 characters)."""
    return isinstance(value, str) and 0 < len(value) <= 40


async def authenticate(
    token: str, settings: ServiceSettings, provider: ProviderKeys | None
) -> Principal:
    """A local token goes to the shared secret (when local tokens are accepted), any other to
    the provider's keys with the settings' algorithms: the header's `alg` picks the path, never
    the algorithm a signature is checked with."""
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.InvalidTokenError, RecursionError) as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    local = header.get("alg") == ALGORITHM
    if local and not settings.local_tokens_accepted:
        raise Unauthorized(
            "invalid token: local (HS256) tokens are not accepted here; "
            "use a token of the identity provider"
        )
    if local or provider is None:
        return decode_token(token, settings.jwt_secret.get_secret_value())
    return await _provider_principal(token, header, settings, provider)


async def _provider_principal(
    token: str, header: dict[str, Any], settings: ServiceSettings, provider: ProviderKeys
) -> Principal:
    remembered = provider.remembered(token)
    if remembered is None:
        remembered = await _provider_verified(token, header, settings, provider)
        provider.remember(token, remembered)
    principal, expires_at = remembered
    if expires_at <= time.time():
        raise Unauthorized("the token has expired")
    return principal


async def _provider_verified(
    token: str, header: dict[str, Any], settings: ServiceSettings, provider: ProviderKeys
) -> tuple[Principal, float]:
    if header.get("alg") not in settings.oidc_algorithms:
        raise Unauthorized(f"invalid token: algorithm {str(header.get('alg'))[:16]!r} refused")
    kid = header.get("kid")
    key = await provider.key_for(kid) if isinstance(kid, str) else None
    if key is None:
        raise Unauthorized("invalid token: not signed by a key the identity provider publishes")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=settings.oidc_algorithms,
            audience=settings.oidc_audience,
            issuer=settings.oidc_issuer,
            leeway=settings.oidc_leeway_seconds,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired") from None
    except (jwt.InvalidTokenError, RecursionError) as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    roles = mapped_roles(claims, settings)
    if len(roles) != 1:
        raise Unauthorized(
            f"invalid token: {settings.oidc_role_claim!r} must name exactly one mutualaid "
            f"role, it names {sorted(role.value for role in roles) or 'none'}"
        )
    principal = _checked_principal(
        claims["sub"],
        roles.pop(),
        claim_at(claims, settings.oidc_unit_claim),
        claim_at(claims, settings.oidc_member_claim),
        token,
    )
    return principal, float(claims["exp"]) + settings.oidc_leeway_seconds


def mapped_roles(claims: dict[str, Any], settings: ServiceSettings) -> set[Role]:
    """The project's roles the token's role claim names (a string or a list), through the role
    map (none: the project's own names); the provider's other roles are ignored."""
    found = claim_at(claims, settings.oidc_role_claim)
    names = [found] if isinstance(found, str) else found if isinstance(found, list) else []
    table = settings.oidc_role_map or {role.value: role.value for role in Role}
    return {Role(table[name]) for name in names if isinstance(name, str) and name in table}


_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT of the identity provider, or (development) from `mutualaid token`",
)


# async: FastAPI runs a plain def dependency in its thread pool (tests/test_dependencies.py)
async def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(
            "send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
        )
    state = request.app.state
    provider = getattr(state, "identity_provider", None)
    principal = await authenticate(credentials.credentials, state.settings, provider)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(_principal)]
