"""The dispatcher: the checks common to every kind (cover, periods, dates), then the plan
kind's own rules, then the verdict.

Pure: everything it needs is in its arguments (the plan terms and cover snapshotted on the
claim, the facts, the enrolment's usage, the filing date), so replaying a stored snapshot
gives the same fen.
"""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from services.kit.money import format_money
from services.kit.plan_rules import EnrollmentCover, PlanTerms

from .assessment import ZERO, Assessment, AssessmentLine, KindOutcome, Reason, ordered_reasons
from .cover_periods import (
    PeriodDecision,
    cover_reasons,
    deadline_reason,
    future_reason,
    in_cover,
    period_decision,
)
from .daily import assess_daily
from .facts import ClaimFacts, Usage, facts_model_for
from .fixed import assess_fixed
from .hospital import assess_hospital

WAITING_RATIO = Decimal("0")
"""The ratio the eligpercent line shows for an event in the waiting period."""

KIND_RULES: dict[str, Callable[..., KindOutcome]] = {
    "hospital_reimbursement": assess_hospital,
    "fixed_benefit": assess_fixed,
    "daily_allowance": assess_daily,
}


def assess(
    terms: PlanTerms,
    cover: EnrollmentCover | None,
    facts: ClaimFacts,
    usage: Usage,
    *,
    filed_on: date,
    rules_version: str,
) -> Assessment:
    """Assess one claim: what is payable, each step explained, and every refusal reason.

    `cover` is the member's enrolment whose cover contains the event date, or None; `usage`
    is what that enrolment already took, not counting this claim. Any reason makes the
    payable 0.00; a payout merely reduced by a cap is not refused.
    """
    expected = facts_model_for(terms.kind)
    if not isinstance(facts, expected):
        raise TypeError(
            f"a {terms.kind} plan is assessed on {expected.__name__}, not {type(facts).__name__}"
        )
    event_date = facts.event_date
    reasons = cover_reasons(cover, event_date, usage.cover_ended)
    period = None
    if cover is not None and in_cover(cover, event_date):
        period = period_decision(terms, cover, event_date)
        if period.ratio is None:
            reasons.append(("waiting_period", period.text))
    late = deadline_reason(terms, facts.end_date, filed_on)
    if late is not None:
        reasons.append(late)
    future = future_reason(event_date, facts.end_date, filed_on)
    if future is not None:
        reasons.append(future)

    outcome = KIND_RULES[terms.kind](
        terms.benefit,
        facts,
        shares=None if cover is None else cover.shares,
        ratio=None if period is None else period.ratio,
        usage=usage,
    )
    return verdict(outcome, reasons, period, rules_version)


def verdict(
    outcome: KindOutcome,
    reasons: list[Reason],
    period: PeriodDecision | None,
    rules_version: str,
) -> Assessment:
    """The kind's lines, the period's line and the benefit line: the payout, or 0.00 and
    every refusal (the dispatcher's `reasons` first, the kind's after)."""
    refusals = ordered_reasons(reasons + list(outcome.reasons))
    lines = list(outcome.lines)
    if period is not None:
        shown = WAITING_RATIO if period.ratio is None else period.ratio
        lines.append(AssessmentLine(category="eligpercent", ratio=shown, text=period.text))
    if refusals:
        payable = ZERO
        text = "not payable: " + "; ".join(f"{code} ({why})" for code, why in refusals)
    elif outcome.payout is None:  # pragma: no cover - every missing input is a refusal
        raise AssertionError("no payout computed for a claim without refusal")
    else:
        payable = outcome.payout
        text = f"{outcome.benefit_text}; payable {format_money(payable)}"
    lines.append(AssessmentLine(category="benefit", amount=payable, text=text))
    return Assessment(
        payable=payable,
        lines=tuple(lines),
        reason_codes=tuple(code for code, _ in refusals),  # type: ignore[misc]
        cap_left=None if outcome.term_left is None else outcome.term_left - payable,
        rules_version=rules_version,
        benefit_ratio=None if period is None else period.ratio,
        group=outcome.group,
        condition_code=outcome.condition_code,
        ends_cover=outcome.ends_cover and not refusals,
    )


def assess_snapshot(snapshot: dict[str, Any], *, filed_on: date, rules_version: str) -> Assessment:
    """Replay an assessment from its stored JSON snapshot of terms, cover, facts and usage."""
    terms = PlanTerms.model_validate(snapshot["terms"])
    cover_data = snapshot.get("cover")
    cover = None if cover_data is None else EnrollmentCover.model_validate(cover_data)
    facts = facts_model_for(terms.kind).model_validate(snapshot["facts"])
    usage = Usage.model_validate(snapshot.get("usage") or {})
    return assess(terms, cover, facts, usage, filed_on=filed_on, rules_version=rules_version)


def snapshot_of(
    terms: PlanTerms, cover: EnrollmentCover | None, facts: ClaimFacts, usage: Usage
) -> dict[str, Any]:
    """The JSON-ready snapshot `assess_snapshot` replays (money and ratios as strings)."""
    return {
        "terms": terms.model_dump(mode="json"),
        "cover": None if cover is None else cover.model_dump(mode="json"),
        "facts": facts.model_dump(mode="json"),
        "usage": usage.model_dump(mode="json"),
    }
