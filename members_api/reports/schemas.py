from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field

from services.kit.money import MoneySum


class UnitParticipation(BaseModel):
    unit_id: str
    unit_name: str
    insured_headcount: int
    person_times: int
    members: int
    contributions: MoneySum
    participation_ratio: Decimal | None
    """Distinct enrolled members / insured_headcount, to four places; null without a headcount."""
    below_80_percent: bool
    paid: MoneySum = Field(
        description="what the unit's payments have allocated to these enrolments"
    )
    owed: MoneySum = Field(description="contributions minus paid")
    credit: MoneySum = Field(description="the unit's payments for the plan(s) not yet allocated")


class EnrollmentReport(BaseModel):
    plan_codes: list[str]
    units: int
    person_times: int
    members: int
    contributions: MoneySum
    paid: MoneySum
    owed: MoneySum
    credit: MoneySum = Field(description="the sum of the units' credit shown in by_unit")
    units_below_80_percent: int
    by_unit: list[UnitParticipation]


class UnitContributions(BaseModel):
    unit_id: str
    unit_name: str
    enrollments: int = Field(description="live (not cancelled) enrolments in the plan")
    due: MoneySum = Field(description="their contribution_due")
    paid: MoneySum = Field(description="what the unit's payments have allocated to them")
    owed: MoneySum = Field(description="due minus paid")
    credit: MoneySum = Field(description="what the unit paid for the plan and is not allocated yet")
    received: MoneySum = Field(description="the unit's payments for the plan, less reversals")
    unpaid_enrollments: int = Field(description="live enrolments not paid in full")
    days_overdue: int = Field(
        description="days from the plan's enrol_until to today while something is owed; 0 "
        "when nothing is owed or enrol_until has not passed"
    )


class ContributionsTotals(BaseModel):
    units: int
    units_owing: int
    enrollments: int
    due: MoneySum
    paid: MoneySum
    owed: MoneySum
    credit: MoneySum
    received: MoneySum
    unpaid_enrollments: int


class ContributionsReport(BaseModel):
    """DOMAIN.md "Reports": per unit what is due, paid and still owed, its credit, the unpaid
    enrolments and the days overdue after `enrol_until`; totals. Every unit with a live
    enrolment, a credit or a payment in the plan has a row."""

    plan_code: str
    enrol_until: date
    as_of: date = Field(description="today, the day days_overdue is counted to")
    days_overdue: int = Field(description="the plan's: as a unit's, when anything is owed")
    totals: ContributionsTotals
    by_unit: list[UnitContributions]
