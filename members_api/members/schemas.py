from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from members_api.bulk import MAX_ROWS, RowError
from members_api.units.schemas import Phone
from services.kit.dates import SchemeDate
from services.kit.identity import NATIONAL_ID_PATTERN, validate_national_id
from services.kit.json_schema import omit_rather_than_null
from services.kit.text import PersonNameText

# Ids are issued here (services.kit.ids: prefix_hex); anything else cannot name a record.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"

# Room for a number typed with spaces or dashes; validate_national_id compacts it to 18.
# The document states the compact form: what a client should send.
NationalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=30),
    AfterValidator(validate_national_id),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": NATIONAL_ID_PATTERN,
            "minLength": 18,
            "maxLength": 18,
            "description": "the 18-character resident identity number (GB 11643): region, "
            "birth date, order; its birth date must exist and its check digit (0-9 or X) is "
            "verified",
            "examples": ["110105198506150022"],
        }
    ),
]
# units' Phone allows "+" and 30 more characters: one more than the column holds.
MemberPhone = Annotated[Phone, StringConstraints(max_length=30)]
UnitId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=ID_PATTERN)]
Status = Literal["active", "left"]


class MemberCreate(BaseModel):
    """Sex and birth date are read from the identity number, so they are not fields here."""

    model_config = ConfigDict(extra="forbid")

    national_id: NationalId
    name: PersonNameText
    phone: MemberPhone | None = None
    unit_id: UnitId


class MemberUpdate(BaseModel):
    """Leaving is `{"status": "left", "left_on": ...}`; `{"status": "active"}` re-activates."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=omit_rather_than_null("name", "unit_id", "status")
    )

    name: PersonNameText | None = None
    phone: MemberPhone | None = None
    unit_id: UnitId | None = None
    status: Status | None = None
    left_on: SchemeDate | None = None

    @field_validator("name", "unit_id", "status")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only runs for fields that were sent: an explicit null cannot clear a required column.
        if value is None:
            raise ValueError("may not be null")
        return value


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    national_id: str
    name: str
    sex: Literal["F", "M"]
    birth_date: date
    phone: str | None
    unit_id: str
    status: Status
    left_on: date | None
    created_at: datetime
    updated_at: datetime

    @field_validator("created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # SQLite hands timestamps back without their zone; they were stored as UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class MemberLeavingRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    national_id: NationalId
    left_on: SchemeDate


class MembersLeaving(BaseModel):
    """Workers leaving their unit, found by identity number; rows are checked one by one."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_ROWS,
        description='each {"national_id", "left_on"}',
        json_schema_extra={"items": MemberLeavingRow.model_json_schema()},
    )


class LeavingRowResult(BaseModel):
    row: int
    status: Literal["ok", "error"]
    member_id: str | None = None
    left_on: date | None = None
    already_left: bool | None = Field(
        default=None, description="it had already left on that day: nothing changed"
    )
    errors: list[RowError] | None = None


class LeavingTotals(BaseModel):
    rows: int
    ok: int
    failed: int
    left: int
    already_left: int


class LeavingResult(BaseModel):
    totals: LeavingTotals
    results: list[LeavingRowResult]
