"""What the engine answers: the payable amount, the explained steps and the refusal reasons.

The result is stored with the claim and shown to its member (DOMAIN.md, "Claims": the lines
`submitted`, `eligible`, `deductible`, `eligpercent`, `benefit`, each with a sentence, the rule
version and the cap left). `Assessment.json()` is its JSON, money as strings; pydantic checks
it where it crosses the API (claims_api.claims.schemas.AssessmentRead).
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, get_args

from services.kit.money import MAX_YUAN, format_money

ReasonCode = Literal[
    "not_enrolled",
    "waiting_period",
    "deadline_passed",
    "event_in_future",
    "member_left",
    "amounts_inconsistent",
    "condition_not_covered",
    "already_paid_group",
    "cap_reached",
    "below_threshold",
]

REASON_CODES: tuple[str, ...] = get_args(ReasonCode)
"""Every reason code the engine decides, in the order it reports them."""

LineCategory = Literal["submitted", "eligible", "deductible", "eligpercent", "benefit"]
"""The FHIR adjudication categories, in the order the lines come."""

Reason = tuple[str, str]
"""A reason code and the sentence saying why it applies."""

ZERO = Decimal("0.00")
FULL = Decimal("1")
"""The ratio of a full benefit (after the waiting and reduced periods)."""

MAX_RULES_VERSION = 200
"""The longest rule version a claim stores."""


@dataclass(frozen=True, slots=True)
class AssessmentLine:
    """One step of the assessment and the sentence explaining it: an amount, or (on the
    `eligpercent` line only) a ratio, or neither."""

    category: LineCategory
    text: str
    amount: Decimal | None = None
    ratio: Decimal | None = None

    def __post_init__(self) -> None:
        check_storable(f"{self.category} line", self.amount)

    def json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "amount": None if self.amount is None else format_money(self.amount),
            "ratio": None if self.ratio is None else ratio_json(self.ratio),
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class Assessment:
    """The engine's answer for one claim.

    `reason_codes` are the refusals (empty: a payable claim); `cap_left` is the term cap x
    shares minus what was used minus this payout (None without a term cap); `benefit_ratio`
    the waiting/reduced period ratio applied (None when the event is not covered).
    """

    payable: Decimal
    lines: tuple[AssessmentLine, ...]
    reason_codes: tuple[ReasonCode, ...]
    cap_left: Decimal | None
    rules_version: str
    benefit_ratio: Decimal | None
    group: str | None = None
    condition_code: str | None = None
    ends_cover: bool = False

    def __post_init__(self) -> None:
        check_storable("payable", self.payable)
        check_storable("cap_left", self.cap_left)
        if len(self.rules_version) > MAX_RULES_VERSION:
            raise ValueError(f"rules_version: longer than {MAX_RULES_VERSION} characters")

    @property
    def refused(self) -> bool:
        return bool(self.reason_codes)

    def line(self, category: LineCategory) -> AssessmentLine | None:
        """The first line of this category, if any."""
        return next((line for line in self.lines if line.category == category), None)

    def json(self) -> dict[str, Any]:
        """As stored with the claim and served: money and ratios as strings."""
        return {
            "payable": format_money(self.payable),
            "lines": [line.json() for line in self.lines],
            "reason_codes": list(self.reason_codes),
            "cap_left": None if self.cap_left is None else format_money(self.cap_left),
            "rules_version": self.rules_version,
            "benefit_ratio": None if self.benefit_ratio is None else ratio_json(self.benefit_ratio),
            "group": self.group,
            "condition_code": self.condition_code,
            "ends_cover": self.ends_cover,
        }


def check_storable(name: str, amount: Decimal | None) -> None:
    """A claim stores its amounts as BIGINT fen: a trillion yuan or more is refused."""
    if amount is not None and amount >= MAX_YUAN:
        raise ValueError(f"{name}: {amount} is implausibly large")


def ratio_json(ratio: Decimal) -> str:
    """A ratio as the API writes it (services.kit.money.Ratio): "0.6", "1"."""
    return format(ratio.normalize(), "f")


@dataclass(frozen=True, slots=True)
class KindOutcome:
    """What one kind's rules found: its own lines and refusals, and the payout before the
    dispatcher's refusals (None when it cannot be computed: no cover, or the waiting period).
    `term_left` is the term cap x shares minus what was used, before this payout."""

    lines: tuple[AssessmentLine, ...]
    reasons: tuple[Reason, ...] = ()
    payout: Decimal | None = None
    benefit_text: str = ""
    term_left: Decimal | None = None
    group: str | None = None
    condition_code: str | None = None
    ends_cover: bool = False


def ordered_reasons(reasons: list[Reason]) -> list[Reason]:
    """Reasons in the stable order of REASON_CODES, each code once (its first sentence)."""
    first: dict[str, Reason] = {}
    for reason in reasons:
        if reason[0] not in REASON_CODES:
            raise ValueError(f"unknown reason code {reason[0]!r}")
        first.setdefault(reason[0], reason)
    return sorted(first.values(), key=lambda reason: REASON_CODES.index(reason[0]))


def shares_text(shares: int) -> str:
    return f"{shares} share" if shares == 1 else f"{shares} shares"


@dataclass(frozen=True, slots=True)
class TermCap:
    """What is left of the term cap x shares after what the enrolment already took."""

    left: Decimal
    text: str

    def reached(self) -> Reason | None:
        """`cap_reached` when nothing is left."""
        if self.left > 0:
            return None
        return ("cap_reached", f"nothing is left of the {self.text}")


@lru_cache(maxsize=4096)  # by value: covers of one plan share their caps, shares and usage
def term_cap(cap_per_share: Decimal, shares: int, used: Decimal) -> TermCap:
    """The term cap x shares minus what the enrolment already took, never below 0."""
    left = max(ZERO, cap_per_share * shares - used)
    return TermCap(
        left,
        f"term cap left: {format_money(cap_per_share)} x {shares_text(shares)} - "
        f"{format_money(used)} used = {format_money(left)}",
    )
