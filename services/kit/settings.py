"""Settings shared by both services; each service subclasses with its own `env_prefix`."""

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit import clock

DEVELOPMENT_JWT_SECRET = "mutualaid-development-secret-not-for-production"
MIN_PRODUCTION_SECRET_LENGTH = 32
# Public-key algorithms only: a symmetric one would let whoever holds the provider's public
# key (everyone) sign tokens.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def _shared(name: str) -> AliasChoices:
    """One variable for both services (they trust the same tokens): MUTUALAID_<NAME>."""
    return AliasChoices(f"MUTUALAID_{name.upper()}")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        extra="ignore", env_prefix="MUTUALAID_", populate_by_name=True
    )

    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias=AliasChoices("MUTUALAID_ENVIRONMENT")
    )
    jwt_secret: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_JWT_SECRET),
        validation_alias=AliasChoices("MUTUALAID_JWT_SECRET"),
    )
    # HS256 tokens signed with jwt_secret (`mutualaid token`): always accepted outside
    # production; in production only when this says so (README, "Tokens from an identity
    # provider").
    allow_local_tokens: bool = Field(default=False, validation_alias=_shared("allow_local_tokens"))
    # The identity provider (OpenID Connect). No issuer: local tokens only.
    oidc_issuer: str | None = Field(default=None, validation_alias=_shared("oidc_issuer"))
    oidc_audience: str | None = Field(default=None, validation_alias=_shared("oidc_audience"))
    # Default: the jwks_uri of {issuer}/.well-known/openid-configuration.
    oidc_jwks_url: str | None = Field(default=None, validation_alias=_shared("oidc_jwks_url"))
    oidc_algorithms: list[str] = Field(
        default=["RS256", "ES256"], validation_alias=_shared("oidc_algorithms")
    )
    oidc_leeway_seconds: float = Field(
        default=30.0, ge=0, le=300, validation_alias=_shared("oidc_leeway_seconds")
    )
    # An unknown `kid` fetches the key set again, at most once in this many seconds.
    oidc_jwks_refresh_seconds: float = Field(
        default=60.0, ge=0, validation_alias=_shared("oidc_jwks_refresh_seconds")
    )
    oidc_fetch_timeout_seconds: float = Field(
        default=5.0, gt=0, validation_alias=_shared("oidc_fetch_timeout_seconds")
    )
    # Where the token carries the role, the unit and the member: dotted paths into its claims.
    oidc_role_claim: str = Field(default="roles", validation_alias=_shared("oidc_role_claim"))
    oidc_unit_claim: str = Field(default="unit_id", validation_alias=_shared("oidc_unit_claim"))
    oidc_member_claim: str = Field(
        default="member_id", validation_alias=_shared("oidc_member_claim")
    )
    # The provider's role names -> the project's (JSON). Empty: the project's own names.
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict, validation_alias=_shared("oidc_role_map")
    )
    database_url: str = "sqlite+aiosqlite:///./data/service.db"
    # Postgres connections kept per process (services.kit.database: no overflow); every replica
    # has its own, so replicas x this stays under the server's max_connections.
    database_pool_size: int = Field(default=20, ge=1, le=500)
    migrate_on_start: bool = True
    max_body_bytes: int = 2 * 1024 * 1024
    sql_echo: bool = False

    @field_validator("oidc_issuer", "oidc_audience", "oidc_jwks_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # compose passes `${MUTUALAID_OIDC_ISSUER:-}`: an empty variable names no provider
        return None if value == "" else value

    @field_validator("oidc_algorithms")
    @classmethod
    def _only_public_key_algorithms(cls, value: list[str]) -> list[str]:
        refused = [name for name in value if name not in ASYMMETRIC_ALGORITHMS]
        if refused or not value:
            raise ValueError(
                f"MUTUALAID_OIDC_ALGORITHMS takes public-key algorithms only "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}), not {refused or 'none'}"
            )
        return value

    @field_validator("oidc_role_map")
    @classmethod
    def _mapped_to_known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        from services.kit.auth import Role  # here: auth imports this module (services.kit.oidc)

        unknown = sorted({role for role in value.values() if role not in Role.__members__})
        if unknown:
            raise ValueError(f"MUTUALAID_OIDC_ROLE_MAP maps to unknown roles {unknown}")
        return value

    @property
    def local_tokens_accepted(self) -> bool:
        return self.environment != "production" or self.allow_local_tokens

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "ServiceSettings":
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("MUTUALAID_OIDC_ISSUER needs MUTUALAID_OIDC_AUDIENCE as well")
        if self.environment != "production":
            return self
        if not self.allow_local_tokens and not self.oidc_issuer:
            raise ValueError(
                "production needs MUTUALAID_OIDC_ISSUER and MUTUALAID_OIDC_AUDIENCE (tokens "
                "from the identity provider), or MUTUALAID_ALLOW_LOCAL_TOKENS=true"
            )
        secret = self.jwt_secret.get_secret_value()
        weak = secret == DEVELOPMENT_JWT_SECRET or len(secret) < MIN_PRODUCTION_SECRET_LENGTH
        if self.allow_local_tokens and weak:
            raise ValueError(
                "MUTUALAID_JWT_SECRET must be set to a secret of at least "
                f"{MIN_PRODUCTION_SECRET_LENGTH} characters in production"
            )
        if self.database_url.startswith("sqlite"):
            raise ValueError("production needs a PostgreSQL database_url, not SQLite")
        if clock.pinned() is not None:
            raise ValueError(
                f"{clock.PIN_VARIABLE} pins the clock: it is for tests, not production"
            )
        return self
