"""The payout engine as first written (commit 822e21e), kept as the reference the optimised
engine (claims_api.engine) is checked against in test_engine_equivalence.py.

Plain and slow on purpose: every model built by validation, every amount text rounded, no
caches. Only the shared input models (the facts, the plan terms) come from the code under
test; the money helpers are restated here, so a change to services/kit/money.py is checked too,
and so is the output model as first written (pydantic `Assessment`, `AssessmentLine`): the
engine's own are dataclasses now, compared through their JSON and their values.

Rules added to DOMAIN.md since are added here too, written plainly: `event_in_future`.
"""

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from claims_api.engine import (
    REASON_CODES,
    DailyFacts,
    FixedFacts,
    HospitalFacts,
    LineCategory,
    ReasonCode,
    Usage,
    facts_model_for,
)
from services.kit.money import Money, Ratio
from services.kit.plan_rules import (
    Band,
    Condition,
    DailyAllowanceRules,
    EnrollmentCover,
    FixedBenefitRules,
    HospitalReimbursementRules,
    PlanTerms,
    normalise_icd10,
)

ZERO = Decimal("0.00")
FULL = Decimal("1")

Reason = tuple[str, str]


def to_fen(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def format_money(amount: Decimal) -> str:
    return str(to_fen(amount))


def percent(ratio: Decimal) -> str:
    return f"{format((ratio * 100).normalize(), 'f')}%"


# --- the output model as first written -------------------------------------------------------


class AssessmentLine(BaseModel):
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
    model_config = ConfigDict(extra="forbid", frozen=True)

    payable: Money
    lines: list[AssessmentLine] = Field(max_length=10)
    reason_codes: list[ReasonCode] = Field(max_length=len(REASON_CODES))
    cap_left: Money | None
    rules_version: str = Field(max_length=200)
    benefit_ratio: Ratio | None
    group: str | None = Field(default=None, max_length=40)
    condition_code: str | None = Field(default=None, max_length=40)
    ends_cover: bool = False


@dataclass(frozen=True)
class KindOutcome:
    lines: tuple[AssessmentLine, ...]
    reasons: tuple[Reason, ...] = ()
    payout: Decimal | None = None
    benefit_text: str = ""
    term_left: Decimal | None = None
    group: str | None = None
    condition_code: str | None = None
    ends_cover: bool = False


def ordered_reasons(reasons: list[Reason]) -> list[Reason]:
    first: dict[str, Reason] = {}
    for reason in reasons:
        if reason[0] not in REASON_CODES:
            raise ValueError(f"unknown reason code {reason[0]!r}")
        first.setdefault(reason[0], reason)
    return sorted(first.values(), key=lambda reason: REASON_CODES.index(reason[0]))


def term_cap_left(cap_per_share: Decimal, shares: int, used: Decimal) -> Decimal:
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


# --- periods ---------------------------------------------------------------------------------


def in_cover(cover: EnrollmentCover | None, event_date: date) -> bool:
    return cover is not None and cover.starts_on <= event_date <= cover.ends_on


def period_ratio(
    terms: PlanTerms, cover: EnrollmentCover, event_date: date
) -> tuple[Decimal | None, str]:
    waiting_ends_on = cover.waiting_ends_on
    reduced_ends_on = cover.reduced_ends_on
    if waiting_ends_on is not None and event_date <= waiting_ends_on:
        return (
            None,
            f"waiting period until {waiting_ends_on}: an event on {event_date} is not covered",
        )
    if reduced_ends_on is not None and event_date <= reduced_ends_on:
        return (
            terms.reduced_ratio,
            f"reduced period until {reduced_ends_on}: an event on {event_date} gets "
            f"{percent(terms.reduced_ratio)} of the benefit",
        )
    if cover.renewal:
        text = "renewal: no waiting or reduced period, full benefit (100%)"
    elif reduced_ends_on is not None or waiting_ends_on is not None:
        last = reduced_ends_on or waiting_ends_on
        text = f"an event on {event_date} is after the periods ending {last}: full benefit (100%)"
    else:
        text = "no waiting or reduced period: full benefit (100%)"
    return FULL, text


def deadline_reason(terms: PlanTerms, end_date: date, filed_on: date) -> Reason | None:
    deadline = end_date + timedelta(days=terms.claim_deadline_days)
    if filed_on <= deadline:
        return None
    return (
        "deadline_passed",
        f"filed on {filed_on}, after the deadline {deadline}, "
        f"{terms.claim_deadline_days} days after {end_date}",
    )


def future_reason(facts: HospitalFacts | FixedFacts | DailyFacts, filed_on: date) -> Reason | None:
    """DOMAIN.md: an admission, discharge or diagnosis after the day of filing."""
    if facts.end_date <= filed_on:
        return None
    if facts.event_date == facts.end_date:
        happened = f"dated {facts.event_date}"
    else:
        happened = f"from {facts.event_date} to {facts.end_date}"
    return ("event_in_future", f"the event is {happened}, after the day of filing {filed_on}")


def cover_reasons(
    cover: EnrollmentCover | None, event_date: date, cover_ended: bool
) -> list[Reason]:
    reasons: list[Reason] = []
    if cover is None:
        reasons.append(("not_enrolled", f"no enrolment covers the event on {event_date}"))
    elif not in_cover(cover, event_date):
        reasons.append(
            (
                "not_enrolled",
                f"the event on {event_date} is outside the cover "
                f"{cover.starts_on} to {cover.ends_on}",
            )
        )
    elif cover_ended:
        reasons.append(("not_enrolled", "the cover ended with an earlier payout"))
    left_on = cover.member_left_on if cover is not None else None
    if left_on is not None and event_date > left_on:
        reasons.append(
            ("member_left", f"the event on {event_date} is after the member left on {left_on}")
        )
    return reasons


# --- hospital_reimbursement ------------------------------------------------------------------


def base_amount(rules: HospitalReimbursementRules, facts: HospitalFacts) -> tuple[Decimal, str]:
    if rules.base == "total_in_policy":
        base = facts.insurance_paid + facts.out_of_pocket_in_policy
        return base, (
            f"base (total in policy): insurance paid {format_money(facts.insurance_paid)} + "
            f"out of pocket in policy {format_money(facts.out_of_pocket_in_policy)} = "
            f"{format_money(base)}"
        )
    base = facts.out_of_pocket_in_policy
    return base, f"base (out of pocket in policy): {format_money(base)}"


def band_for(bands: list[Band], amount: Decimal) -> Band | None:
    found = None
    for band in bands:
        if amount > band.above:
            found = band
    return found


def progressive(bands: list[Band], amount: Decimal) -> tuple[Decimal, str]:
    slices: list[tuple[Decimal, Decimal]] = []
    for band, upper in zip(bands, [b.above for b in bands[1:]] + [None], strict=True):
        top = amount if upper is None else min(amount, upper)
        if top > band.above:
            slices.append((top - band.above, band.ratio))
    total = to_fen(sum((part * ratio for part, ratio in slices), ZERO))
    if not slices:
        return total, f"progressive bands: nothing to reimburse, {format_money(total)}"
    terms = " + ".join(f"{format_money(part)} x {percent(ratio)}" for part, ratio in slices)
    return total, f"progressive bands: {terms} = {format_money(total)}"


def whole(bands: list[Band], amount: Decimal) -> tuple[Decimal, str]:
    band = band_for(bands, amount)
    if band is None:
        return ZERO, f"whole bands: nothing to reimburse, {format_money(ZERO)}"
    total = to_fen(amount * band.ratio)
    return total, (
        f"whole bands: {format_money(amount)} is in the band above {format_money(band.above)}, "
        f"{format_money(amount)} x {percent(band.ratio)} = {format_money(total)}"
    )


def assess_hospital(
    rules: HospitalReimbursementRules,
    facts: HospitalFacts,
    *,
    shares: int | None,
    ratio: Decimal | None,
    usage: Usage,
) -> KindOutcome:
    reasons: list[Reason] = []
    parts = facts.insurance_paid + facts.out_of_pocket_in_policy + facts.self_pay
    parts_text = (
        f"insurance paid {format_money(facts.insurance_paid)} + out of pocket in policy "
        f"{format_money(facts.out_of_pocket_in_policy)} + self pay {format_money(facts.self_pay)}"
    )
    if parts == facts.total_cost:
        submitted = f"total cost {format_money(facts.total_cost)} = {parts_text}"
    else:
        submitted = (
            f"total cost {format_money(facts.total_cost)} is not {parts_text} = "
            f"{format_money(parts)}"
        )
        reasons.append(("amounts_inconsistent", submitted))

    base, eligible_text = base_amount(rules, facts)
    if rules.threshold > 0:
        if base < rules.threshold:
            note = f"below the threshold {format_money(rules.threshold)}, nothing is paid"
            reasons.append(("below_threshold", f"{eligible_text}, {note}"))
        else:
            note = f"reaches the threshold {format_money(rules.threshold)} (not subtracted)"
        eligible_text = f"{eligible_text}, {note}"

    deducted = min(rules.deductible, base)
    eligible = base - deducted
    deductible_text = (
        f"deductible {format_money(rules.deductible)} per stay: {format_money(base)} - "
        f"{format_money(deducted)} = {format_money(eligible)}"
    )
    lines = (
        AssessmentLine(category="submitted", amount=facts.total_cost, text=submitted),
        AssessmentLine(category="eligible", amount=base, text=eligible_text),
        AssessmentLine(category="deductible", amount=deducted, text=deductible_text),
    )
    if rules.band_mode == "whole":
        amount, band_text = whole(rules.bands, eligible)
    else:
        amount, band_text = progressive(rules.bands, eligible)

    if shares is None:
        return KindOutcome(lines=lines, reasons=tuple(reasons), benefit_text=band_text)

    term_left = term_cap_left(rules.term_cap_per_share, shares, usage.used)
    cap_reason = cap_reached_reason(rules.term_cap_per_share, shares, usage.used)
    if cap_reason is not None:
        reasons.append(cap_reason)
    limit = rules.max_claims_per_term
    if limit is not None and usage.claims_count >= limit:
        reasons.append(
            ("cap_reached", f"{usage.claims_count} claims already paid, at most {limit} a term")
        )
    if ratio is None:
        return KindOutcome(
            lines=lines, reasons=tuple(reasons), benefit_text=band_text, term_left=term_left
        )

    steps = [band_text]
    after_ratio = to_fen(amount * ratio)
    if ratio != 1:
        steps.append(
            f"{format_money(amount)} x {percent(ratio)} period ratio = {format_money(after_ratio)}"
        )
    stay_cap = rules.per_stay_cap_per_share * shares
    stay_text = (
        f"per-stay cap {format_money(rules.per_stay_cap_per_share)} x {shares_text(shares)} "
        f"= {format_money(stay_cap)}"
    )
    payout = min(after_ratio, stay_cap, term_left)
    term_text = term_cap_text(rules.term_cap_per_share, shares, usage.used)
    if payout == after_ratio:
        steps.append(f"within the {stay_text} and the {term_text}")
    elif payout == stay_cap:
        steps.append(f"capped at the {stay_text}")
    else:
        steps.append(f"capped at the {term_text}")
    return KindOutcome(
        lines=lines,
        reasons=tuple(reasons),
        payout=payout,
        benefit_text="; ".join(steps),
        term_left=term_left,
    )


# --- fixed_benefit ---------------------------------------------------------------------------


def match_condition(rules: FixedBenefitRules, code: str) -> tuple[Condition, str] | None:
    wanted = normalise_icd10(code)
    best: tuple[Condition, str] | None = None
    best_length = -1
    for condition in rules.conditions:
        for prefix in condition.icd10:
            key = normalise_icd10(prefix)
            if wanted.startswith(key) and len(key) > best_length:
                best, best_length = (condition, prefix), len(key)
    return best


def assess_fixed(
    rules: FixedBenefitRules,
    facts: FixedFacts,
    *,
    shares: int | None,
    ratio: Decimal | None,
    usage: Usage,
) -> KindOutcome:
    reasons: list[Reason] = []
    submitted = AssessmentLine(
        category="submitted",
        text=(
            f"first diagnosis {facts.diagnosis_code} on {facts.diagnosed_on} at "
            f"{facts.hospital}, pathology report {facts.pathology_report_no}"
        ),
    )
    match = match_condition(rules, facts.diagnosis_code)
    if match is None:
        text = f"ICD-10 code {facts.diagnosis_code} matches no condition of the plan"
        reasons.append(("condition_not_covered", text))
        lines = (submitted, AssessmentLine(category="eligible", text=text))
        term_left = None
        if shares is not None and rules.term_cap_per_share is not None:
            term_left = term_cap_left(rules.term_cap_per_share, shares, usage.used)
        return KindOutcome(lines=lines, reasons=tuple(reasons), term_left=term_left)

    condition, prefix = match
    described = (
        f"{condition.code} {condition.name} (ICD-10 prefix {prefix}, group {condition.group})"
    )
    if shares is None:
        eligible = condition.amount_per_share
        eligible_text = f"{described}: {format_money(eligible)} per share"
    else:
        eligible = condition.amount_per_share * shares
        eligible_text = (
            f"{described}: {format_money(condition.amount_per_share)} x {shares_text(shares)} "
            f"= {format_money(eligible)}"
        )
    lines = (submitted, AssessmentLine(category="eligible", amount=eligible, text=eligible_text))
    found = KindOutcome(
        lines=lines,
        group=condition.group,
        condition_code=condition.code,
        ends_cover=rules.ends_cover_after_payout,
    )
    if shares is None:
        return found

    if condition.group in usage.groups_paid:
        reasons.append(
            ("already_paid_group", f"group {condition.group} was already paid on this enrolment")
        )
    term_left = None
    if rules.term_cap_per_share is not None:
        term_left = term_cap_left(rules.term_cap_per_share, shares, usage.used)
        cap_reason = cap_reached_reason(rules.term_cap_per_share, shares, usage.used)
        if cap_reason is not None:
            reasons.append(cap_reason)
    if ratio is None:
        return replace(found, reasons=tuple(reasons), term_left=term_left)

    steps = []
    after_ratio = to_fen(eligible * ratio)
    gross = after_ratio + rules.fixed_extra
    if ratio != 1:
        steps.append(f"{format_money(eligible)} x {percent(ratio)} = {format_money(after_ratio)}")
    if rules.fixed_extra > 0:
        steps.append(
            f"{format_money(after_ratio)} + fixed extra {format_money(rules.fixed_extra)} "
            f"= {format_money(gross)}"
        )
    if not steps:
        steps.append(f"fixed benefit {format_money(gross)}")
    payout = gross
    if term_left is not None and rules.term_cap_per_share is not None:
        term_text = term_cap_text(rules.term_cap_per_share, shares, usage.used)
        if gross > term_left:
            payout = term_left
            steps.append(f"capped at the {term_text}")
        else:
            steps.append(f"within the {term_text}")
    if rules.ends_cover_after_payout:
        steps.append("this payout ends the cover")
    return replace(
        found,
        reasons=tuple(reasons),
        payout=payout,
        benefit_text="; ".join(steps),
        term_left=term_left,
    )


# --- daily_allowance -------------------------------------------------------------------------


def paid_days(rules: DailyAllowanceRules, days: int) -> int:
    return min(max(0, days - rules.from_day + 1), rules.max_days_per_stay)


def _days_text(rules: DailyAllowanceRules, days: int, paid: int) -> str:
    if days < rules.from_day:
        return f"a stay of {days} days ends before day {rules.from_day}: 0 days paid"
    text = f"days {rules.from_day} to {days} paid"
    if paid < days - rules.from_day + 1:
        return f"{text}, at most {rules.max_days_per_stay} per stay: {paid} days"
    return f"{text}: {paid} days"


def assess_daily(
    rules: DailyAllowanceRules,
    facts: DailyFacts,
    *,
    shares: int | None,
    ratio: Decimal | None,
    usage: Usage,
) -> KindOutcome:
    reasons: list[Reason] = []
    days = (facts.discharged_on - facts.admitted_on).days
    paid = paid_days(rules, days)
    submitted = AssessmentLine(
        category="submitted",
        text=(
            f"stay at {facts.hospital} from {facts.admitted_on} to {facts.discharged_on}: "
            f"{days} days"
        ),
    )
    per_day = rules.amount_per_day_per_share
    days_text = _days_text(rules, days, paid)
    if shares is None:
        eligible = paid * per_day
        eligible_text = f"{days_text}, {paid} x {format_money(per_day)} per share"
    else:
        eligible = paid * per_day * shares
        eligible_text = (
            f"{days_text}, {paid} x {format_money(per_day)} x {shares_text(shares)} "
            f"= {format_money(eligible)}"
        )
    lines = (
        submitted,
        AssessmentLine(category="eligible", amount=eligible, text=eligible_text),
    )
    if shares is None:
        return KindOutcome(lines=lines)

    term_left = term_cap_left(rules.term_cap_per_share, shares, usage.used)
    cap_reason = cap_reached_reason(rules.term_cap_per_share, shares, usage.used)
    if cap_reason is not None:
        reasons.append(cap_reason)
    if ratio is None:
        return KindOutcome(lines=lines, reasons=tuple(reasons), term_left=term_left)

    steps = []
    after_ratio = to_fen(eligible * ratio)
    if ratio != 1:
        steps.append(f"{format_money(eligible)} x {percent(ratio)} = {format_money(after_ratio)}")
    else:
        steps.append(f"daily allowance {format_money(after_ratio)}")
    payout = min(after_ratio, term_left)
    term_text = term_cap_text(rules.term_cap_per_share, shares, usage.used)
    if payout < after_ratio:
        steps.append(f"capped at the {term_text}")
    else:
        steps.append(f"within the {term_text}")
    return KindOutcome(
        lines=lines,
        reasons=tuple(reasons),
        payout=payout,
        benefit_text="; ".join(steps),
        term_left=term_left,
    )


# --- the dispatcher --------------------------------------------------------------------------

_KINDS = {
    "hospital_reimbursement": assess_hospital,
    "fixed_benefit": assess_fixed,
    "daily_allowance": assess_daily,
}


def reference_assess(
    terms: PlanTerms,
    cover: EnrollmentCover | None,
    facts: HospitalFacts | FixedFacts | DailyFacts,
    usage: Usage,
    *,
    filed_on: date,
    rules_version: str,
) -> Assessment:
    """`claims_api.engine.assess` as first written."""
    expected = facts_model_for(terms.kind)
    if not isinstance(facts, expected):
        raise TypeError(
            f"a {terms.kind} plan is assessed on {expected.__name__}, not {type(facts).__name__}"
        )
    event_date = facts.event_date
    reasons: list[Reason] = cover_reasons(cover, event_date, usage.cover_ended)

    period: tuple[Decimal | None, str] | None = None
    if cover is not None and in_cover(cover, event_date):
        period = period_ratio(terms, cover, event_date)
        if period[0] is None:
            reasons.append(("waiting_period", period[1]))
    late = deadline_reason(terms, facts.end_date, filed_on)
    if late is not None:
        reasons.append(late)
    future = future_reason(facts, filed_on)
    if future is not None:
        reasons.append(future)

    ratio = period[0] if period is not None else None
    outcome = _KINDS[terms.kind](
        terms.benefit,  # type: ignore[arg-type]
        facts,  # type: ignore[arg-type]
        shares=cover.shares if cover is not None else None,
        ratio=ratio,
        usage=usage,
    )
    refusals = ordered_reasons(reasons + list(outcome.reasons))

    lines = list(outcome.lines)
    if period is not None:
        shown = period[0] if period[0] is not None else Decimal("0")
        lines.append(AssessmentLine(category="eligpercent", ratio=shown, text=period[1]))
    if refusals:
        payable = ZERO
        text = "not payable: " + "; ".join(f"{code} ({why})" for code, why in refusals)
    elif outcome.payout is None:  # pragma: no cover - every missing input is a refusal
        raise AssertionError("no payout computed for a claim without refusal")
    else:
        payable = outcome.payout
        text = f"{outcome.benefit_text}; payable {format_money(payable)}"
    lines.append(AssessmentLine(category="benefit", amount=payable, text=text))

    cap_left = None if outcome.term_left is None else outcome.term_left - payable
    return Assessment(
        payable=payable,
        lines=lines,
        reason_codes=[code for code, _ in refusals],  # type: ignore[misc]
        cap_left=cap_left,
        rules_version=rules_version,
        benefit_ratio=ratio,
        group=outcome.group,
        condition_code=outcome.condition_code,
        ends_cover=outcome.ends_cover and not refusals,
    )
