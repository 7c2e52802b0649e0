from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from claims_api.claims.schemas import Id, Reason
from services.kit.dates import SchemeDate
from services.kit.money import SignedMoney

Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class PayoutCreate(BaseModel):
    """One batch (给付批次): every listed claim is paid, or none is."""

    model_config = ConfigDict(extra="forbid")

    claim_ids: list[Id] = Field(min_length=1, max_length=1000)
    paid_on: SchemeDate
    reference: Reference


class ReversalCreate(BaseModel):
    """A bounced payment: the listed claims (default: all of the batch) go back to approved."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason
    claim_ids: list[Id] | None = Field(default=None, min_length=1, max_length=1000)
    reversed_on: SchemeDate | None = None


class PayoutEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    batch_id: str
    claim_id: str
    entry_kind: str
    amount: SignedMoney
    reverses_entry_id: str | None
    reason: str | None
    plan_code: str
    unit_id: str | None
    member_id: str
    paid_on: date
    created_by: str
    created_at: datetime


class PayoutBatchRead(BaseModel):
    id: str
    paid_on: date
    reference: str
    created_by: str
    created_at: datetime
    total: SignedMoney
    claims: int
    entries: list[PayoutEntryRead]
