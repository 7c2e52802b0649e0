from decimal import Decimal

from pydantic import BaseModel

from services.kit.money import Money


class UnitParticipation(BaseModel):
    unit_id: str
    unit_name: str
    insured_headcount: int
    person_times: int
    members: int
    contributions: Money
    participation_ratio: Decimal | None
    """Distinct enrolled members / insured_headcount, to four places; null without a headcount."""
    below_80_percent: bool


class EnrollmentReport(BaseModel):
    plan_codes: list[str]
    units: int
    person_times: int
    members: int
    contributions: Money
    units_below_80_percent: int
    by_unit: list[UnitParticipation]
