"""What the engine answers: the payable amount, the explained steps and the refusal reasons.

The result is stored with the claim and shown to its member; it serialises to JSON with money
as strings, and carries the rule version so an auditor can replay it.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.money import Money, Ratio, format_money

REASON_CODES: tuple[str, ...] = (
    "not_enrolled",
    "waiting_period",
    "deadline_passed",
    "member_left",
    "amounts_inconsistent",
    "condition_not_covered",
    "already_paid_group",
    "cap_reached",
    "below_threshold",
)
"""Every reason code the engine decides, in the order it reports them."""

ReasonCode = Literal[
    "not_enrolled",
    "waiting_period",
    "deadline_passed",
    "member_left",
    "amounts_inconsistent",
    "condition_not_covered",
    "already_paid_group",
    "cap_reached",
    "below_threshold",
]

LineCategory = Literal["submitted", "eligible", "deductible", "eligpercent", "benefit"]
"""The FHIR adjudication categories, in the order the lines come."""

ZERO = Decimal("0.00")


class AssessmentLine(BaseModel):
    """One step of the assessment and the sentence explaining it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: LineCategory
    amount: Money | None = None
    ratio: Ratio | None = None
    text: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _ratio_only_on_eligpercent(self) -> "AssessmentLine":
        if self.category == "eligpercent":
            if self.ratio is None or self.amount is not None:
                raise ValueError("an eligpercent line carries a ratio and no amount")
        elif self.ratio is not None:
            raise ValueError(f"a {self.category} line carries no ratio")
        return self


class Assessment(BaseModel):
    """The engine's answer for one claim."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    payable: Money
    lines: list[AssessmentLine] = Field(max_length=10)
    reason_codes: list[ReasonCode] = Field(
        max_length=len(REASON_CODES), description="refusals; empty means a payable claim"
    )
    cap_left: Money | None = Field(
        description="term cap x shares minus used minus this payout; None without a term cap"
    )
    rules_version: str = Field(max_length=200)
    benefit_ratio: Ratio | None = Field(
        description="waiting/reduced period ratio applied; None when the event is not covered"
    )
    group: str | None = Field(default=None, max_length=40)
    condition_code: str | None = Field(default=None, max_length=40)
    ends_cover: bool = False

    @property
    def refused(self) -> bool:
        return bool(self.reason_codes)

    def line(self, category: LineCategory) -> AssessmentLine | None:
        """The first line of this category, if any."""
        return next((line for line in self.lines if line.category == category), None)


Reason = tuple[str, str]
"""A reason code and the sentence saying why it applies."""


def ordered_reasons(reasons: list[Reason]) -> list[Reason]:
    """Reasons in the stable order of REASON_CODES, each code once."""
    first: dict[str, Reason] = {}
    for reason in reasons:
        if reason[0] not in REASON_CODES:
            raise ValueError(f"unknown reason code {reason[0]!r}")
        first.setdefault(reason[0], reason)
    return sorted(first.values(), key=lambda reason: REASON_CODES.index(reason[0]))


@dataclass(frozen=True)
class KindOutcome:
    """What a kind's rules found, before the dispatcher adds the period and the verdict.

    `payout` is None when it cannot be computed (no cover, or the event is in the waiting
    period); `term_left` is the term cap x shares minus used, before this payout, or None.
    """

    lines: tuple[AssessmentLine, ...]
    reasons: tuple[Reason, ...] = ()
    payout: Decimal | None = None
    benefit_text: str = ""
    term_left: Decimal | None = None
    group: str | None = None
    condition_code: str | None = None
    ends_cover: bool = False


def term_cap_left(cap_per_share: Decimal, shares: int, used: Decimal) -> Decimal:
    """Term cap x shares minus what the enrolment already took, never below 0."""
    return max(ZERO, cap_per_share * shares - used)


def term_cap_text(cap_per_share: Decimal, shares: int, used: Decimal) -> str:
    left = term_cap_left(cap_per_share, shares, used)
    return (
        f"term cap left: {format_money(cap_per_share)} x {shares_text(shares)} - "
        f"{format_money(used)} used = {format_money(left)}"
    )


def shares_text(shares: int) -> str:
    return f"{shares} share" if shares == 1 else f"{shares} shares"


def cap_reached_reason(cap_per_share: Decimal, shares: int, used: Decimal) -> Reason | None:
    if term_cap_left(cap_per_share, shares, used) > 0:
        return None
    return ("cap_reached", f"nothing is left of the {term_cap_text(cap_per_share, shares, used)}")
