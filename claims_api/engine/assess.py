"""The dispatcher: common cover and date checks, then the plan kind's own rules.

Pure: everything it needs is in its arguments (the plan terms and cover snapshotted on the
claim, the facts, the enrolment's usage, the filing date), so replaying a stored snapshot
gives the same fen.
"""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from services.plan_rules import EnrollmentCover, PlanTerms

from .assessment import (
    ZERO,
    Assessment,
    KindOutcome,
    Reason,
    amount_line,
    new_assessment,
    ordered_reasons,
    ratio_line,
)
from .daily import assess_daily
from .facts import ClaimFacts, Usage, facts_model_for
from .fast import money_pair
from .fixed import assess_fixed
from .hospital import assess_hospital
from .periods import claim_deadline, cover_reasons, deadline_reason, period_of

_NO_RATIO = Decimal("0")
_FACTS = {
    kind: facts_model_for(kind)
    for kind in ("hospital_reimbursement", "fixed_benefit", "daily_allowance")
}
_KINDS: dict[str, Callable[..., KindOutcome]] = {
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
    expected = _FACTS.get(terms.kind) or facts_model_for(terms.kind)  # unknown kind: raises
    if not isinstance(facts, expected):
        raise TypeError(
            f"a {terms.kind} plan is assessed on {expected.__name__}, not {type(facts).__name__}"
        )
    event_date = facts.event_date
    covered = cover is not None and cover.starts_on <= event_date <= cover.ends_on  # in_cover
    reasons: list[Reason]
    if covered and not usage.cover_ended and cover.member_left_on is None:  # type: ignore[union-attr]
        reasons = []  # what cover_reasons answers then
    else:
        reasons = cover_reasons(cover, event_date, usage.cover_ended)

    period: tuple[Decimal | None, str] | None = None
    ratio: Decimal | None = None
    if covered:
        period = period_of(terms, cover, event_date)  # type: ignore[arg-type]
        ratio = period[0]
        if ratio is None:
            reasons.append(("waiting_period", period[1]))
    end_date = facts.end_date
    if filed_on > claim_deadline(terms, end_date):
        late = deadline_reason(terms, end_date, filed_on)
        if late is not None:
            reasons.append(late)

    outcome = _KINDS[terms.kind](
        terms.benefit,
        facts,
        shares=cover.shares if cover is not None else None,
        ratio=ratio,
        usage=usage,
    )
    refusals = (
        ordered_reasons(reasons + list(outcome.reasons)) if reasons or outcome.reasons else []
    )

    lines = list(outcome.lines)
    if period is not None:
        shown = ratio if ratio is not None else _NO_RATIO
        lines.append(ratio_line(period[1], shown))
    if refusals:
        payable = ZERO
        payable_fen: Decimal | None = ZERO
        text = "not payable: " + "; ".join(f"{code} ({why})" for code, why in refusals)
    elif outcome.payout is None:  # pragma: no cover - every missing input is a refusal
        raise AssertionError("no payout computed for a claim without refusal")
    else:
        payable = outcome.payout
        payable_fen, payable_text = money_pair(payable)
        text = f"{outcome.benefit_text}; payable {payable_text}"
    lines.append(amount_line("benefit", text, payable, payable_fen))

    cap_left = None if outcome.term_left is None else outcome.term_left - payable
    return new_assessment(  # the fields in order: payable, lines, reason_codes, cap_left, ...
        payable,
        lines,
        [code for code, _ in refusals] if refusals else [],
        cap_left,
        rules_version,
        ratio,
        outcome.group,
        outcome.condition_code,
        outcome.ends_cover and not refusals,
        payable_fen=payable_fen,
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
