from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class MembersSettings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="MEMBERS_")

    database_url: str = "sqlite+aiosqlite:///./data/members.db"
