"""The member registry's tables. Money columns hold whole fen (services.kit.money.Fen)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index
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


class Enrollment(MembersTable, table=True):
    __table_args__ = (
        Index("ix_enrollment_member_plan", "member_id", "plan_code"),
        Index("ix_enrollment_plan_unit", "plan_code", "unit_id"),
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
    status: str = Field(default="active", max_length=10)
    cancelled_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime, nullable=True)
    )
    created_at: datetime = _timestamp()


idempotency = idempotency_table(metadata)
audit_event = audit_table(metadata)
