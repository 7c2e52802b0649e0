"""The dispatcher: common cover and date checks, then the plan kind's own rules.

Pure: everything it needs is in its arguments (the plan terms and cover snapshotted on the
claim, the facts, the enrolment's usage, the filing date), so replaying a stored snapshot
gives the same fen.
"""

from collections.abc import Callable
from datetime import date
from typing import Any

from services.plan_rules import EnrollmentCover, PlanTerms

from .assessment import Assessment, Reason
from .daily import assess_daily
from .facts import ClaimFacts, DailyFacts, FixedFacts, HospitalFacts, Usage, facts_model_for
from .fixed import assess_fixed
from .hospital import assess_hospital
from .periods import (
    Verdict,
    cover_reasons,
    deadline_reason,
    deadline_span,
    future_reason,
    period_verdict,
)

# Per plan kind: its facts model and its rules. Each kind's function takes (rules, facts,
# shares, ratio, period, usage, reasons, rules_version) and answers the Assessment through
# assessment.finish, which gives the dispatcher's verdict.
_KINDS: dict[str, tuple[type[ClaimFacts], Callable[..., Assessment]]] = {
    "hospital_reimbursement": (HospitalFacts, assess_hospital),
    "fixed_benefit": (FixedFacts, assess_fixed),
    "daily_allowance": (DailyFacts, assess_daily),
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
    kind = terms.kind
    found = _KINDS.get(kind)
    if found is None or type(facts) is not found[0]:
        _check_facts(kind, facts)  # raises unless the facts are an instance of a subclass
        event_date, end_date = facts.event_date, facts.end_date
    elif found[0] is FixedFacts:  # as the models' event_date / end_date answer
        event_date = end_date = facts.diagnosed_on  # type: ignore[union-attr]
    else:
        event_date, end_date = facts.admitted_on, facts.discharged_on  # type: ignore[union-attr]

    reasons: list[Reason]
    period: Verdict | None = None
    ratio = shares = None
    if cover is not None and cover.starts_on <= event_date <= cover.ends_on:  # in_cover
        if usage.cover_ended or cover.member_left_on is not None:
            reasons = cover_reasons(cover, event_date, usage.cover_ended)
        else:
            reasons = []  # what cover_reasons answers then
        period = period_verdict(terms, cover, event_date)
        ratio = period[0]
        if ratio is None:
            reasons.append(("waiting_period", period[1]))
        shares = cover.shares
    else:
        reasons = cover_reasons(cover, event_date, usage.cover_ended)
        if cover is not None:
            shares = cover.shares
    if filed_on > end_date + deadline_span(terms.claim_deadline_days):  # claim_deadline
        late = deadline_reason(terms, end_date, filed_on)
        if late is not None:
            reasons.append(late)
    elif end_date > filed_on:
        reasons.append(future_reason(event_date, end_date, filed_on))  # type: ignore[arg-type]

    # (found is not None here: an unknown kind raised in _check_facts)
    return found[1](terms.benefit, facts, shares, ratio, period, usage, reasons, rules_version)


def _check_facts(kind: str, facts: ClaimFacts) -> None:
    expected = facts_model_for(kind)  # an unknown kind raises
    if not isinstance(facts, expected):
        raise TypeError(
            f"a {kind} plan is assessed on {expected.__name__}, not {type(facts).__name__}"
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
