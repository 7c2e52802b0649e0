"""Settings shared by both services; each service subclasses with its own `env_prefix`."""

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit import clock

DEVELOPMENT_JWT_SECRET = "mutualaid-development-secret-not-for-production"
MIN_PRODUCTION_SECRET_LENGTH = 32


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
    database_url: str = "sqlite+aiosqlite:///./data/service.db"
    # Postgres connections kept per process (services.kit.database: no overflow); every replica
    # has its own, so replicas x this stays under the server's max_connections.
    database_pool_size: int = Field(default=20, ge=1, le=500)
    migrate_on_start: bool = True
    max_body_bytes: int = 2 * 1024 * 1024
    sql_echo: bool = False

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "ServiceSettings":
        if self.environment != "production":
            return self
        secret = self.jwt_secret.get_secret_value()
        if secret == DEVELOPMENT_JWT_SECRET or len(secret) < MIN_PRODUCTION_SECRET_LENGTH:
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
