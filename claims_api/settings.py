from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class ClaimsSettings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="CLAIMS_")

    database_url: str = "sqlite+aiosqlite:///./data/claims.db"
    members_url: str = "http://127.0.0.1:8001"
    members_timeout_seconds: float = 3.0
    members_connect_timeout_seconds: float = 1.0
    # The batch coverage look-up: up to 5,000 workers in one call (settlement imports).
    members_lookup_timeout_seconds: float = Field(default=30.0, gt=0)
    # People per call of that look-up in a settlement import (at most the registry's limit).
    settlement_lookup_chunk: int = Field(default=5_000, ge=1, le=5_000)
    # Claim documents' bytes (claims_api.documents.storage): a folder, or an S3-compatible bucket.
    document_store: Literal["local", "s3"] = "local"
    documents_dir: str = "./data/documents"
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # Short: a bucket that does not answer makes an upload a 503 within seconds, not a hung
    # request holding its temporary file. The read timeout is per socket read, not per object.
    s3_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    s3_read_timeout_seconds: float = Field(default=10.0, gt=0)
    # Attempts in all (the first and its retries) for a refused connection or a 5xx.
    s3_max_attempts: int = Field(default=2, ge=1, le=10)

    # Webhooks (claims_api.webhooks.worker): a task in each claims process sends the events.
    webhook_worker_enabled: bool = True
    # How often an idle worker looks for new events and deliveries due.
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    # One attempt in all (connect, send, the status line): a hung receiver costs this, no more.
    webhook_attempt_timeout_seconds: float = Field(default=10.0, gt=0)
    # Wait before the n-th retry; past the list, its last value again, until the give-up.
    webhook_retry_delays_seconds: tuple[float, ...] = (
        5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200,
    )  # fmt: skip
    # A delivery still failing this long after its event is marked failed (3 days).
    webhook_give_up_after_seconds: float = Field(default=259_200, gt=0)
    # A subscription whose deliveries have failed, no success between, this long is disabled.
    webhook_disable_after_seconds: float = Field(default=259_200, gt=0)
    # Events fanned out and deliveries claimed per round.
    webhook_batch_size: int = Field(default=100, ge=1, le=10_000)
    # Deliveries sent at once per process; each holds a database connection only to record
    # its attempt, so at most a quarter of the pool (requests keep the rest).
    webhook_concurrency: int = Field(default=4, ge=1, le=100)

    @model_validator(mode="after")
    def _leave_the_pool_to_requests(self) -> "ClaimsSettings":
        # A small pool (set for a small database) lowers the worker's concurrency to its
        # quarter rather than refusing to start: requests keep the rest either way.
        self.webhook_concurrency = min(
            self.webhook_concurrency, max(1, self.database_pool_size // 4)
        )
        if any(delay < 0 for delay in self.webhook_retry_delays_seconds):
            raise ValueError("CLAIMS_WEBHOOK_RETRY_DELAYS_SECONDS: delays are not negative")
        return self

    @model_validator(mode="after")
    def _refuse_incomplete_bucket(self) -> "ClaimsSettings":
        # `local` stays allowed in production: one host keeping its papers on its own disk
        # (README, "Claim documents"). A bucket without its address or keys fails at start,
        # not at the first upload.
        if self.document_store != "s3":
            return self
        missing = [
            f"CLAIMS_{name.upper()}"
            for name in ("s3_endpoint_url", "s3_bucket")
            if not getattr(self, name)
        ]
        if self.environment == "production":
            if not self.s3_access_key_id:
                missing.append("CLAIMS_S3_ACCESS_KEY_ID")
            if (
                self.s3_secret_access_key is None
                or not self.s3_secret_access_key.get_secret_value()
            ):
                missing.append("CLAIMS_S3_SECRET_ACCESS_KEY")
        if missing:
            raise ValueError(f"document_store=s3 needs {', '.join(missing)}")
        return self
