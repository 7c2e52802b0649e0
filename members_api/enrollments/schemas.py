from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.money import Money

ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
Id = Annotated[str, StringConstraints(strip_whitespace=True, pattern=ID_PATTERN)]
EnrollmentStatus = Literal["active", "cancelled"]


class EnrollmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: Id
    plan_code: Id
    shares: int = Field(ge=1, le=100)
    unit_id: Id | None = Field(
        default=None, description="default: the member's current unit; hr: its own unit"
    )
    enrolled_on: date | None = Field(default=None, description="admin only; default: today")
    starts_on: date | None = Field(
        default=None,
        description="admin only; default: the day after enrolled_on, or coverage_start if later",
    )


class EnrollmentCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class EnrollmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    member_id: str
    plan_code: str
    unit_id: str
    shares: int
    enrolled_on: date
    starts_on: date
    ends_on: date
    waiting_ends_on: date | None
    reduced_ends_on: date | None
    renewal: bool
    contribution_due: Money
    status: EnrollmentStatus
    cancelled_at: datetime | None = None
    created_at: datetime

    @field_validator("created_at", "cancelled_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # SQLite hands timestamps back without their zone; they were stored as UTC.
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
