"""What the engine is given about a claim: the facts per plan kind, and the enrolment's usage.

The facts models validate field by field (a bad date or amount is a 422 naming the field).
Business checks that need the plan, such as the three parts of a hospital bill adding up to its
total, are not validation errors: `assess` returns them as reason codes.
"""

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from services.kit.dates import SchemeDate
from services.kit.money import Money
from services.kit.plan_rules import Code, Icd10Code, PlanKind
from services.kit.text import NameText


def _upper(value: Any) -> Any:
    """Upper-case before the pattern is checked (StringConstraints checks it first)."""
    return value.strip().upper() if isinstance(value, str) else value


ClaimIcd10 = Annotated[Icd10Code, BeforeValidator(_upper)]
"""An ICD-10 code as a member types it: 'c50.9 ' is accepted as 'C50.9'."""

InvoiceNumber = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(min_length=1, max_length=40, pattern=r"^[0-9A-Z][0-9A-Z._/-]*$"),
]
ReportNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]

MAX_DIAGNOSES = 20
MAX_INVOICES = 50


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[PlanKind]

    @property
    def event_date(self) -> date:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def end_date(self) -> date:  # pragma: no cover - overridden
        raise NotImplementedError


class _StayFacts(_Facts):
    admitted_on: SchemeDate
    discharged_on: SchemeDate
    hospital: NameText
    diagnosis_codes: list[ClaimIcd10] = Field(min_length=1, max_length=MAX_DIAGNOSES)
    invoice_numbers: list[InvoiceNumber] = Field(min_length=1, max_length=MAX_INVOICES)

    @field_validator("discharged_on")
    @classmethod
    def _not_before_admission(cls, value: date, info: ValidationInfo) -> date:
        admitted_on = info.data.get("admitted_on")
        if admitted_on is not None and value < admitted_on:
            raise ValueError("is before admitted_on")
        return value

    @field_validator("invoice_numbers")
    @classmethod
    def _invoices_unique(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for number in value:
            if number in seen:
                raise ValueError(f"invoice {number} is listed twice")
            seen.add(number)
        return value

    @property
    def event_date(self) -> date:
        return self.admitted_on

    @property
    def end_date(self) -> date:
        return self.discharged_on

    @property
    def days(self) -> int:
        """Days of the stay: discharge minus admission, a same-day stay is 0 days."""
        return (self.discharged_on - self.admitted_on).days


class HospitalFacts(_StayFacts):
    """One hospital stay, with the bill split as the basic medical insurance settled it."""

    kind: ClassVar[PlanKind] = "hospital_reimbursement"

    total_cost: Money
    insurance_paid: Money
    out_of_pocket_in_policy: Money
    self_pay: Money

    @property
    def parts_total(self) -> Money:
        return self.insurance_paid + self.out_of_pocket_in_policy + self.self_pay


class DailyFacts(_StayFacts):
    """One hospital stay, paid by the day."""

    kind: ClassVar[PlanKind] = "daily_allowance"


class FixedFacts(_Facts):
    """One first diagnosis of a listed critical illness."""

    kind: ClassVar[PlanKind] = "fixed_benefit"

    diagnosed_on: SchemeDate
    diagnosis_code: ClaimIcd10
    hospital: NameText
    pathology_report_no: ReportNumber

    @property
    def event_date(self) -> date:
        return self.diagnosed_on

    @property
    def end_date(self) -> date:
        return self.diagnosed_on


ClaimFacts = HospitalFacts | FixedFacts | DailyFacts

_MODELS: dict[str, type[HospitalFacts] | type[FixedFacts] | type[DailyFacts]] = {
    "hospital_reimbursement": HospitalFacts,
    "fixed_benefit": FixedFacts,
    "daily_allowance": DailyFacts,
}


def facts_model_for(kind: PlanKind) -> type[HospitalFacts] | type[FixedFacts] | type[DailyFacts]:
    """The facts model a claim under a plan of this kind is validated with."""
    try:
        return _MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown plan kind {kind!r}") from None


class Usage(BaseModel):
    """What the enrolment has already taken, not counting the claim being assessed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    used: Money = Field(
        default=Decimal("0.00"), description="sum of payouts of approved and paid claims"
    )
    claims_count: int = Field(default=0, ge=0, description="approved and paid claims")
    groups_paid: frozenset[Code] = Field(
        default=frozenset(), max_length=200, description="fixed_benefit groups already paid"
    )
    cover_ended: bool = Field(
        default=False, description="a payout with ends_cover_after_payout already happened"
    )
