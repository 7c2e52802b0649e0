from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AttemptRead(BaseModel):
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None


class DeliveryRead(BaseModel):
    """What was sent to the subscription: the event, where the delivery stands, each POST."""

    id: str
    subscription_id: str
    event_id: str
    event_type: str
    claim_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None  # None once delivered or failed
    last_attempt_at: datetime | None
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None
    note: str | None = Field(
        default=None,
        description="why a failed delivery was never attempted (its subscription was disabled): "
        "send it again with the retry route once the subscription is enabled",
    )
    attempt_log: list[AttemptRead]
