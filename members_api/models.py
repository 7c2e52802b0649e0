"""The member registry's tables. Money columns hold whole fen (services.kit.money.Fen)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from services.kit.audit import audit_table
from services.kit.database import UtcDateTime, new_registry
from services.kit.idempotency import idempotency_table
from services.kit.money import Fen

members_registry = new_registry()
metadata = members_registry.metadata


class MembersTable(SQLModel, registry=members_registry):
    pass


def _timestamp() -> Any:
    return Field(sa_column=Column(UtcDateTime, nullable=False))


class Unit(MembersTable, table=True):
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200, index=True)
    credit_code: str | None = Field(default=None, max_length=18, unique=True)
    insured_headcount: int = Field(default=0)
    contact_name: str | None = Field(default=None, max_length=100)
    contact_phone: str | None = Field(default=None, max_length=30)
    active: bool = Field(default=True)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class Member(MembersTable, table=True):
    id: str = Field(primary_key=True, max_length=40)
    national_id: str = Field(max_length=18, unique=True)
    name: str = Field(max_length=100)
    sex: str = Field(max_length=1)
    birth_date: date
    phone: str | None = Field(default=None, max_length=30)
    unit_id: str = Field(foreign_key="unit.id", index=True, max_length=40)
    status: str = Field(default="active", max_length=10)
    left_on: date | None = None
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class Plan(MembersTable, table=True):
    id: str = Field(primary_key=True, max_length=40)
    code: str = Field(max_length=40, unique=True)
    line: str = Field(max_length=40, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=30)
    coverage_start: date
    coverage_end: date
    terms: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    rules_version: str = Field(max_length=64)
    created_at: datetime = _timestamp()


UNPAID = text("paid_on IS NULL AND status = 'active'")


class Enrollment(MembersTable, table=True):
    __table_args__ = (
        Index("ix_enrollment_member_plan", "member_id", "plan_code"),
        Index("ix_enrollment_plan_unit", "plan_code", "unit_id"),
        # what a payment pays: a unit's unpaid active enrolments in a plan, oldest first
        Index(
            "ix_enrollment_unpaid",
            "unit_id",
            "plan_code",
            "created_at",
            "id",
            postgresql_where=UNPAID,
            sqlite_where=UNPAID,
        ),
        # never allocated more than it owes (the ledger's guarantee, kept by the database too)
        CheckConstraint(
            "contribution_paid >= 0 AND contribution_paid <= contribution_due",
            name="contribution_paid_within_due",
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    member_id: str = Field(foreign_key="member.id", max_length=40)
    plan_code: str = Field(foreign_key="plan.code", max_length=40)
    unit_id: str = Field(foreign_key="unit.id", max_length=40, index=True)
    shares: int
    enrolled_on: date
    starts_on: date
    ends_on: date
    waiting_ends_on: date | None = None
    reduced_ends_on: date | None = None
    renewal: bool = False
    contribution_due: Decimal = Field(sa_column=Column(Fen, nullable=False))
    # What the unit's payments have allocated to it (contributions/ledger.py); paid in full
    # iff paid_on is set: the paid_on of the payment that completed it.
    contribution_paid: Decimal = Field(
        default=Decimal("0.00"), sa_column=Column(Fen, nullable=False, server_default="0")
    )
    paid_on: date | None = None
    status: str = Field(default="active", max_length=10)
    cancelled_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime, nullable=True)
    )
    created_at: datetime = _timestamp()


class Contribution(MembersTable, table=True):
    """A payment received from a unit for a plan, or the reversal of one (negative `amount`,
    `reverses_id` set, no reference of its own). Never updated or deleted (append-only on
    Postgres)."""

    __table_args__ = (
        # NULLs are distinct on SQLite and Postgres alike: reversals (reference NULL) never
        # collide, payments' references are unique within their plan.
        UniqueConstraint("plan_code", "reference"),
        Index("ix_contribution_unit_plan", "unit_id", "plan_code", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    unit_id: str = Field(foreign_key="unit.id", max_length=40)
    plan_code: str = Field(foreign_key="plan.code", max_length=40)
    amount: Decimal = Field(sa_column=Column(Fen, nullable=False))
    paid_on: date
    reference: str | None = Field(default=None, max_length=64)
    method: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=500)
    recorded_by: str = Field(max_length=200)
    recorded_at: datetime = _timestamp()
    reverses_id: str | None = Field(
        default=None,
        sa_column=Column(String(40), ForeignKey("contribution.id"), nullable=True, unique=True),
    )


class ContributionAllocation(MembersTable, table=True):
    """Money of one payment given to (positive) or taken back from (negative) one enrolment.
    Append-only on Postgres; an enrolment's contribution_paid is the sum of its rows.

    No foreign keys: a bulk import writes one row per enrolment, and each key would be a
    trigger's lookup per row (COPY of 100,000 rows measured 2.1 s with them, 0.7 s without).
    Its rows are written only by the ledger (members_api.contributions.ledger), from the
    payment and the enrolments it has just read or written in the same transaction, and
    neither payments nor enrolments are ever deleted."""

    __tablename__ = "contribution_allocation"  # type: ignore[assignment]

    id: str = Field(primary_key=True, max_length=40)
    contribution_id: str = Field(max_length=40, index=True)
    enrollment_id: str = Field(max_length=40, index=True)
    amount: Decimal = Field(sa_column=Column(Fen, nullable=False))
    at: datetime = _timestamp()


class UnitPlanCredit(MembersTable, table=True):
    """What a unit has paid for a plan and not yet allocated. Its row is the lock every
    allocation takes (SELECT ... FOR UPDATE), so allocations to one unit and plan queue."""

    __tablename__ = "unit_plan_credit"  # type: ignore[assignment]
    __table_args__ = (CheckConstraint("credit >= 0", name="credit_not_negative"),)

    unit_id: str = Field(foreign_key="unit.id", primary_key=True, max_length=40)
    plan_code: str = Field(foreign_key="plan.code", primary_key=True, max_length=40)
    credit: Decimal = Field(
        default=Decimal("0.00"), sa_column=Column(Fen, nullable=False, server_default="0")
    )


class PayoutAccount(MembersTable, table=True):
    """The member's bank card that its payouts go to (代发): at most one per member. The
    holder's name is the member's (banks refuse a transfer to another name), the number a
    card number of 16 to 19 digits with its Luhn check digit (members_api.payout_accounts)."""

    __tablename__ = "payout_account"  # type: ignore[assignment]
    __table_args__ = (
        CheckConstraint("length(account_number) BETWEEN 16 AND 19", name="account_number_length"),
    )

    member_id: str = Field(foreign_key="member.id", primary_key=True, max_length=40)
    account_name: str = Field(max_length=100)
    account_number: str = Field(max_length=19)
    bank_name: str = Field(max_length=200)
    bank_branch: str | None = Field(default=None, max_length=200)
    updated_at: datetime = _timestamp()
    updated_by: str = Field(max_length=200)


idempotency = idempotency_table(metadata)
audit_event = audit_table(metadata)
