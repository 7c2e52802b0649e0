from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class ClaimsSettings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="CLAIMS_")

    database_url: str = "sqlite+aiosqlite:///./data/claims.db"
    members_url: str = "http://127.0.0.1:8001"
    members_timeout_seconds: float = 3.0
    members_connect_timeout_seconds: float = 1.0
