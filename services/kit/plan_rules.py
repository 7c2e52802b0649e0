"""The plan contract both services share: a plan's terms and its benefit rules, one typed
model per plan kind (DOMAIN.md, "Plans" and "Benefit rules by kind").

The member registry validates a plan with these models before storing it, and hands the same
JSON to the claims service in every coverage answer, which parses it back with them: a rule set
that would fail later is refused at creation, with the field named.
"""

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from services.kit.dates import SchemeDate
from services.kit.money import Money, Ratio
from services.kit.text import NameText

ICD10_PREFIX = r"^[A-Z][0-9]{2}(\.?[0-9A-Z]{0,4})?$"
Icd10Code = Annotated[
    str,
    BeforeValidator(lambda value: value.strip().upper() if isinstance(value, str) else value),
    StringConstraints(max_length=12, pattern=ICD10_PREFIX),
    # the validator upper-cases first: the document takes either case
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 12,
            "pattern": r"^[A-Za-z][0-9]{2}(\.?[0-9A-Za-z]{0,4})?$",
            "examples": ["C50.9"],
        }
    ),
]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{1,40}$")]


def normalise_icd10(code: str) -> str:
    """'c50.9' -> 'C509': prefixes are compared without the dot."""
    return re.sub(r"[^0-9A-Z]", "", code.upper())


RULES_KIND = "optional in a request: the plan's `kind`; when given, it must agree with it"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    above: Money
    ratio: Ratio


class HospitalReimbursementRules(_Strict):
    kind: Literal["hospital_reimbursement"] = Field(
        default="hospital_reimbursement", description=RULES_KIND
    )
    base: Literal["out_of_pocket_in_policy", "total_in_policy"] = "out_of_pocket_in_policy"
    deductible: Money = Decimal("0")
    threshold: Money = Decimal("0")
    bands: list[Band] = Field(
        min_length=1, max_length=20, description="ascending; the first starts above 0"
    )
    band_mode: Literal["progressive", "whole"] = "progressive"
    per_stay_cap_per_share: Money
    term_cap_per_share: Money
    max_claims_per_term: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _bands_ascend_from_zero(self) -> "HospitalReimbursementRules":
        if self.bands[0].above != 0:
            raise ValueError("bands: the first band must start above 0")
        for lower, upper in zip(self.bands, self.bands[1:], strict=False):
            if upper.above <= lower.above:
                raise ValueError("bands: each band must start above the previous one")
        return self


class Condition(_Strict):
    code: Code
    name: NameText
    icd10: list[Icd10Code] = Field(
        min_length=1, max_length=200, description="prefixes, each under one condition only"
    )
    amount_per_share: Money
    group: Code


class FixedBenefitRules(_Strict):
    kind: Literal["fixed_benefit"] = Field(default="fixed_benefit", description=RULES_KIND)
    conditions: list[Condition] = Field(
        min_length=1, max_length=200, description="each with its own code"
    )
    fixed_extra: Money = Decimal("0")
    ends_cover_after_payout: bool = False
    term_cap_per_share: Money | None = None

    @model_validator(mode="after")
    def _prefixes_unique(self) -> "FixedBenefitRules":
        seen: dict[str, str] = {}
        codes = set()
        for condition in self.conditions:
            if condition.code in codes:
                raise ValueError(f"conditions: code {condition.code} is listed twice")
            codes.add(condition.code)
            for prefix in condition.icd10:
                key = normalise_icd10(prefix)
                if key in seen:
                    raise ValueError(
                        f"conditions: ICD-10 prefix {prefix} is listed under both "
                        f"{seen[key]} and {condition.code}"
                    )
                seen[key] = condition.code
        return self


class DailyAllowanceRules(_Strict):
    kind: Literal["daily_allowance"] = Field(default="daily_allowance", description=RULES_KIND)
    amount_per_day_per_share: Money
    from_day: int = Field(default=1, ge=1, le=365)
    max_days_per_stay: int = Field(ge=1, le=3650)
    term_cap_per_share: Money


class _KindOptionalInRequests:
    """A request's `benefit` may leave out its `kind` (the plan's decides), so the request
    schema names no discriminator; what is stored and answered always carries it."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        if handler.mode == "validation":
            schema.pop("discriminator", None)
        return schema


BenefitRules = Annotated[
    HospitalReimbursementRules | FixedBenefitRules | DailyAllowanceRules,
    Field(discriminator="kind"),
    _KindOptionalInRequests(),
]
PlanKind = Literal["hospital_reimbursement", "fixed_benefit", "daily_allowance"]

DOCUMENT_KINDS = (
    "invoice",
    "settlement_sheet",
    "cost_list",
    "discharge_summary",
    "diagnosis_certificate",
    "pathology_report",
    "id_card",
    "bank_card",
    "other",
)
"""A claim's papers (DOMAIN.md, "Claim documents"), in the order the domain lists them: the
order a claim names the kinds it still misses."""
DocumentKind = Literal[
    "invoice",
    "settlement_sheet",
    "cost_list",
    "discharge_summary",
    "diagnosis_certificate",
    "pathology_report",
    "id_card",
    "bank_card",
    "other",
]


class Eligibility(_Strict):
    sex: Literal["F", "M"] | None = None
    min_age: int | None = Field(default=None, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=120, description="not below min_age")

    @model_validator(mode="after")
    def _range(self) -> "Eligibility":
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError("eligibility: min_age is above max_age")
        return self


class PlanTerms(_Strict):
    """Everything about a plan but its identity: what a claim is assessed against."""

    kind: PlanKind = Field(description="which rules `benefit` holds")
    coverage_start: SchemeDate
    coverage_end: SchemeDate = Field(description="on or after coverage_start")
    enrol_from: SchemeDate = Field(description="on or before coverage_end")
    enrol_until: SchemeDate = Field(description="on or after enrol_from")
    contribution_per_share: Money
    max_shares: int = Field(default=1, ge=1, le=100)
    eligibility: Eligibility = Eligibility()
    waiting_days: int = Field(default=0, ge=0, le=3650)
    reduced_days: int = Field(default=0, ge=0, le=3650, description="0, or waiting_days or more")
    reduced_ratio: Ratio = Decimal("1")
    renewal_grace_days: int = Field(default=0, ge=0, le=3650)
    claim_deadline_days: int = Field(default=730, ge=1, le=36500)
    auto_approve_limit: Money | None = None
    cover_requires_payment: StrictBool = Field(
        default=False,
        description="true: an enrolment is covered only from the day its contribution is paid "
        "in full (the later of starts_on and paid_on); its waiting days count from then",
    )
    required_documents: list[DocumentKind] = Field(
        default_factory=list,
        max_length=len(DOCUMENT_KINDS),
        description="the document kinds a claim must carry before it can be approved, each "
        "once; [] for none",
        json_schema_extra={"uniqueItems": True},  # a client's generator knows to list each once
    )
    benefit: BenefitRules

    @field_validator("required_documents")
    @classmethod
    def _each_kind_once(cls, kinds: list[str]) -> list[str]:
        repeated = sorted({kind for kind in kinds if kinds.count(kind) > 1})
        if repeated:
            raise ValueError(f"required_documents: {', '.join(repeated)} listed twice")
        return kinds

    @field_validator("benefit", mode="wrap")
    @classmethod
    def _kind_said_once(
        cls, benefit: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        """DOMAIN.md: the plan's `kind` is said once, at the plan's level; a `kind` inside
        `benefit` may be given, and must then agree. Stored terms keep it inside `benefit`
        (older plans and claim snapshots have it there)."""
        if not isinstance(benefit, dict):
            return handler(benefit)
        kind, given = info.data.get("kind"), benefit.get("kind")
        if kind is None:
            # The plan's kind is refused already; rules without one of their own cannot be
            # read, and saying so too would only repeat that error.
            return handler(benefit) if given is not None else benefit
        if given is not None and given != kind:
            raise ValueError(f"kind: {given} rules in a {kind} plan (the plan's kind decides)")
        return handler({**benefit, "kind": kind})

    @model_validator(mode="after")
    def _consistent(self) -> "PlanTerms":
        if self.coverage_end < self.coverage_start:
            raise ValueError("coverage_end is before coverage_start")
        if self.enrol_until < self.enrol_from:
            raise ValueError("enrol_until is before enrol_from")
        if self.enrol_from > self.coverage_end:
            raise ValueError("enrol_from is after coverage_end")
        if self.benefit.kind != self.kind:
            raise ValueError(f"benefit: rules of kind {self.benefit.kind} for a {self.kind} plan")
        if self.reduced_days and self.reduced_days < self.waiting_days:
            raise ValueError("reduced_days must not be shorter than waiting_days")
        return self


class EnrollmentCover(_Strict):
    """One enrolment as the payout engine needs it: who, how many shares, which days.

    `waiting_ends_on` / `reduced_ends_on` are the last days of those periods, or None when the
    enrolment has none (a renewal, or a plan without them).
    """

    enrollment_id: str
    member_id: str
    unit_id: str
    plan_code: str
    shares: int = Field(ge=1)
    starts_on: date
    ends_on: date
    waiting_ends_on: date | None = None
    reduced_ends_on: date | None = None
    renewal: bool = False
    member_left_on: date | None = None
    covered_from: date | None = None
    """The day cover starts: `starts_on`, or under `cover_requires_payment` the later of
    `starts_on` and the day the contribution was paid in full; None while it is unpaid. The
    waiting and reduced periods above are counted from it (while unpaid: from `starts_on`)."""
