"""What the engine answers: the payable amount, the explained steps and the refusal reasons.

The result is stored with the claim and shown to its member; it serialises to JSON with money
as strings, and carries the rule version so an auditor can replay it.
"""

from decimal import Decimal
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.money import MAX_YUAN, Money, Ratio

from .fast import (
    money_pair,
    money_text,
    money_value,
    new_object,
    ratio_ok,
    set_attribute,
    set_extra,
    set_fields_set,
    set_private,
)

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

ZERO = Decimal("0.00")
FULL = Decimal("1")
"""The ratio of a full benefit (after the waiting and reduced periods)."""


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


_CATEGORIES = frozenset(("submitted", "eligible", "deductible", "eligpercent", "benefit"))
_AMOUNT_CATEGORIES = _CATEGORIES - {"eligpercent"}
_ASSESSMENT_FIELDS = set(Assessment.model_fields)
_REASON_ORDER = {code: index for index, code in enumerate(REASON_CODES)}
_UNCHECKED: Any = object()
_NO_RATIO = Decimal("0")


def amount_line(
    category: LineCategory, text: str, amount: Decimal, fen: Decimal | None = _UNCHECKED
) -> AssessmentLine:
    """`AssessmentLine(category=category, amount=amount, text=text)`, without validating the
    engine's own values a second time (claims_api.engine.fast). `fen` is `money_value(amount)`
    when the caller already has it (`money_pair`)."""
    if fen is _UNCHECKED:
        fen = money_value(amount)
    if (
        fen is not None
        and category in _AMOUNT_CATEGORIES
        and type(text) is str
        and 0 < len(text) <= 2000
    ):
        line = new_object(AssessmentLine)  # as model_construct would
        values = {"category": category, "amount": fen, "ratio": None, "text": text}
        set_attribute(line, "__dict__", values)
        set_fields_set(line, {"category", "amount", "text"})
        set_extra(line, None)
        set_private(line, None)
        return line
    return AssessmentLine(category=category, amount=amount, text=text)


def text_line(category: LineCategory, text: str) -> AssessmentLine:
    """`AssessmentLine(category=category, text=text)`, built as `amount_line` is."""
    if category in _AMOUNT_CATEGORIES and type(text) is str and 0 < len(text) <= 2000:
        line = new_object(AssessmentLine)  # as model_construct would
        values = {"category": category, "amount": None, "ratio": None, "text": text}
        set_attribute(line, "__dict__", values)
        set_fields_set(line, {"category", "text"})
        set_extra(line, None)
        set_private(line, None)
        return line
    return AssessmentLine(category=category, text=text)


def ratio_line(text: str, ratio: Decimal) -> AssessmentLine:
    """`AssessmentLine(category="eligpercent", ratio=ratio, text=text)`, built as
    `amount_line` is."""
    if ratio_ok(ratio) and type(text) is str and 0 < len(text) <= 2000:
        line = new_object(AssessmentLine)  # as model_construct would
        values = {"category": "eligpercent", "amount": None, "ratio": ratio, "text": text}
        set_attribute(line, "__dict__", values)
        set_fields_set(line, {"category", "ratio", "text"})
        set_extra(line, None)
        set_private(line, None)
        return line
    return AssessmentLine(category="eligpercent", ratio=ratio, text=text)


def finish(
    lines: list[AssessmentLine],
    reasons: list[Reason],
    payout: Decimal | None,
    benefit_text: str,
    term_left: Decimal | None,
    period: "tuple[Decimal | None, str, AssessmentLine] | None",
    rules_version: str,
    group: str | None = None,
    condition_code: str | None = None,
    ends_cover: bool = False,
) -> Assessment:
    """The dispatcher's verdict on what a kind's rules found, as the `Assessment`.

    `lines` are the kind's own lines (a fresh list: the answer keeps it), `reasons` every
    refusal found so far, the dispatcher's first (`ordered_reasons` keeps the first of a code);
    `payout` is None when it cannot be computed (no cover, or the event is in the waiting
    period); `term_left` is the term cap x shares minus used, before this payout, or None;
    `period` is `periods.period_verdict`'s (ratio, text, eligpercent line) when the cover
    contains the event, else None. The models are built without validating the engine's own
    values a second time (claims_api.engine.fast): anything unusual goes through validation.
    """
    ratio = None
    if period is not None:
        ratio = period[0]
        lines.append(period[2])
    if reasons:
        refusals = ordered_reasons(reasons)
        payable = payable_fen = ZERO
        text = "not payable: " + "; ".join(f"{code} ({why})" for code, why in refusals)
        reason_codes = [code for code, _ in refusals]
        ends_cover = False
    elif payout is None:  # pragma: no cover - every missing input is a refusal
        raise AssertionError("no payout computed for a claim without refusal")
    else:
        payable = payout
        payable_text = str(payout)
        # money_pair(payout), inline: "d.dd" is kept as it is below a trillion
        if (
            type(payout) is Decimal
            and len(payable_text) > 3
            and payable_text[-3] == "."
            and payable_text[0] != "-"
            and payout < MAX_YUAN
        ):
            payable_fen = payout
        else:
            payable_fen, payable_text = money_pair(payout)
        text = f"{benefit_text}; payable {payable_text}"
        reason_codes = []
    if payable_fen is not None and len(text) <= 2000:  # amount_line("benefit", ...), inline
        line = new_object(AssessmentLine)
        values = {"category": "benefit", "amount": payable_fen, "ratio": None, "text": text}
        set_attribute(line, "__dict__", values)
        set_fields_set(line, {"category", "amount", "text"})
        set_extra(line, None)
        set_private(line, None)
        lines.append(line)
    else:
        lines.append(amount_line("benefit", text, payable, payable_fen))

    cap_left = cap_fen = None
    if term_left is not None:
        cap_left = term_left - payable
        cap_text = str(cap_left)
        # money_value(cap_left), inline: "d.dd" is kept as it is below a trillion
        if (
            type(cap_left) is Decimal
            and cap_text[-3:-2] == "."
            and cap_text[0] != "-"
            and cap_left < MAX_YUAN
        ):
            cap_fen = cap_left
        else:
            cap_fen = money_value(cap_left)
    if (
        payable_fen is not None
        and (cap_fen is not None or cap_left is None)
        and len(lines) <= 10
        # every line comes from the builders above, so it is an AssessmentLine
        and (not reason_codes or _known_codes(reason_codes))
        and type(rules_version) is str
        and len(rules_version) <= 200
        and (ratio is None or ratio is FULL or ratio_ok(ratio))
        and (group is None or (type(group) is str and len(group) <= 40))
        and (condition_code is None or (type(condition_code) is str and len(condition_code) <= 40))
        and type(ends_cover) is bool
    ):
        assessment = new_object(Assessment)  # as model_construct would
        values = {
            "payable": payable_fen,
            "lines": lines,
            "reason_codes": reason_codes,
            "cap_left": cap_fen,
            "rules_version": rules_version,
            "benefit_ratio": ratio,
            "group": group,
            "condition_code": condition_code,
            "ends_cover": ends_cover,
        }
        set_attribute(assessment, "__dict__", values)
        set_fields_set(assessment, _ASSESSMENT_FIELDS.copy())
        set_extra(assessment, None)
        set_private(assessment, None)
        return assessment
    return Assessment(
        payable=payable,
        lines=lines,
        reason_codes=reason_codes,  # type: ignore[arg-type]
        cap_left=cap_left,
        rules_version=rules_version,
        benefit_ratio=ratio,
        group=group,
        condition_code=condition_code,
        ends_cover=ends_cover,
    )


def _known_codes(codes: list[str]) -> bool:
    return len(codes) <= len(REASON_CODES) and all(
        type(code) is str and code in _REASON_ORDER for code in codes
    )


def ordered_reasons(reasons: list[Reason]) -> list[Reason]:
    """Reasons in the stable order of REASON_CODES, each code once."""
    if not reasons:
        return []
    first: dict[str, Reason] = {}
    for reason in reasons:
        if reason[0] not in _REASON_ORDER:
            raise ValueError(f"unknown reason code {reason[0]!r}")
        first.setdefault(reason[0], reason)
    return sorted(first.values(), key=lambda reason: _REASON_ORDER[reason[0]])


def term_cap_left(cap_per_share: Decimal, shares: int, used: Decimal) -> Decimal:
    """Term cap x shares minus what the enrolment already took, never below 0."""
    return max(ZERO, cap_per_share * shares - used)


def term_cap_text(cap_per_share: Decimal, shares: int, used: Decimal) -> str:
    return term_cap(cap_per_share, shares, used)[1]


def term_cap(cap_per_share: Decimal, shares: int, used: Decimal) -> tuple[Decimal, str]:
    """`term_cap_left` and `term_cap_text` at once."""
    left = max(ZERO, cap_per_share * shares - used)
    return left, (
        f"term cap left: {money_text(cap_per_share)} x {shares_text(shares)} - "
        f"{money_text(used)} used = {money_text(left)}"
    )


_SHARES_TEXT = {shares: f"{shares} shares" for shares in range(2, 101)} | {1: "1 share"}


def shares_text(shares: int) -> str:
    if type(shares) is int:  # (a bool is not an int here: True would say "True share")
        text = _SHARES_TEXT.get(shares)
        if text is not None:
            return text
    return f"{shares} share" if shares == 1 else f"{shares} shares"


def cap_reached_reason(cap_per_share: Decimal, shares: int, used: Decimal) -> Reason | None:
    left, text = term_cap(cap_per_share, shares, used)
    return cap_reached(left, text)


def cap_reached(left: Decimal, text: str) -> Reason | None:
    """`cap_reached_reason` from `term_cap`'s answer."""
    if left > 0:
        return None
    return ("cap_reached", f"nothing is left of the {text}")
