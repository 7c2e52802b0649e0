from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from members_api.members.schemas import ID_PATTERN
from services.kit.text import NO_CONTROL_CHARACTERS, NameText, PersonNameText

MAX_LOOKUP = 5_000

# Room for a number typed in groups of four with spaces; members_api.payout_accounts.checks
# compacts it and checks the digits, the length and the check digit (a 422 with its code).
CardNumberText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=40, pattern=NO_CONTROL_CHARACTERS
    ),
    Field(
        description="the bank card's number: 16 to 19 digits (spaces are removed) whose last "
        "is the Luhn check digit",
        examples=["6222 0212 3456 7890 128"],
    ),
]
MemberId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class PayoutAccountSet(BaseModel):
    """The member's bank card; the holder's name must be the member's."""

    model_config = ConfigDict(extra="forbid")

    account_name: PersonNameText = Field(description="户名: the member's name, as on the card")
    account_number: CardNumberText
    bank_name: NameText = Field(description="开户行: the bank, e.g. 中国工商银行")
    bank_branch: NameText | None = Field(default=None, description="the branch (支行), if known")


class PayoutAccountRead(BaseModel):
    """`account_number` is masked (622202*********1234) for every reader but the member
    itself, its unit's hr and admin."""

    model_config = ConfigDict(from_attributes=True)

    member_id: str
    account_name: str
    account_number: str
    bank_name: str
    bank_branch: str | None
    updated_at: datetime
    updated_by: str = Field(description="who set it (the token's subject)")

    @field_validator("updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # SQLite hands timestamps back without their zone; they were stored as UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PayoutAccountLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_ids: list[MemberId] = Field(
        max_length=MAX_LOOKUP,
        json_schema_extra={"uniqueItems": True},
        description=f"up to {MAX_LOOKUP:,} members, each once",
    )

    @field_validator("member_ids")
    @classmethod
    def _once_each(cls, ids: list[str]) -> list[str]:
        seen: set[str] = set()
        for index, member_id in enumerate(ids):
            if member_id in seen:
                raise ValueError(f"{member_id} is given twice (at {index}): name each member once")
            seen.add(member_id)
        return ids


class LookedUpAccount(BaseModel):
    """One member's account in full, for the bank's disbursement file."""

    member_id: str
    account_name: str
    account_number: str
    bank_name: str
    bank_branch: str | None


class PayoutAccountsFound(BaseModel):
    accounts: list[LookedUpAccount] = Field(description="in the order of member_ids")
    missing: list[str] = Field(
        description="the member_ids with no payout account (or no such member), in their order"
    )
