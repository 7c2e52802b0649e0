from typing import Literal

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class ClaimsSettings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="CLAIMS_")

    database_url: str = "sqlite+aiosqlite:///./data/claims.db"
    members_url: str = "http://127.0.0.1:8001"
    members_timeout_seconds: float = 3.0
    members_connect_timeout_seconds: float = 1.0
    # Claim documents' bytes (claims_api.documents.storage): a folder, or an S3-compatible bucket.
    document_store: Literal["local", "s3"] = "local"
    documents_dir: str = "./data/documents"
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
