"""fixed_benefit: a fixed sum per share for the first diagnosis of a listed condition.

Diagnosis -> condition -> amount x shares x period ratio + fixed extra -> term cap (DOMAIN.md,
"Benefit rules by kind").
"""

from decimal import Decimal

from services.kit.money import format_money, percent, to_fen
from services.kit.plan_rules import Condition, FixedBenefitRules, normalise_icd10

from .assessment import AssessmentLine, KindOutcome, Reason, shares_text, term_cap
from .facts import FixedFacts, Usage


def assess_fixed(
    rules: FixedBenefitRules,
    facts: FixedFacts,
    *,
    shares: int | None,
    ratio: Decimal | None,
    usage: Usage,
) -> KindOutcome:
    """(The arguments as for hospital.assess_hospital.)"""
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
            term_left = term_cap(rules.term_cap_per_share, shares, usage.used).left
        return KindOutcome(lines=lines, reasons=tuple(reasons), term_left=term_left)

    condition, prefix = match
    eligible, eligible_text = condition_amount(condition, prefix, shares)
    lines = (submitted, AssessmentLine(category="eligible", amount=eligible, text=eligible_text))
    matched = {
        "group": condition.group,
        "condition_code": condition.code,
        "ends_cover": rules.ends_cover_after_payout,
    }
    if shares is None:
        return KindOutcome(lines=lines, **matched)

    if condition.group in usage.groups_paid:
        reasons.append(
            ("already_paid_group", f"group {condition.group} was already paid on this enrolment")
        )
    term = None
    if rules.term_cap_per_share is not None:
        term = term_cap(rules.term_cap_per_share, shares, usage.used)
        cap_reached = term.reached()
        if cap_reached is not None:
            reasons.append(cap_reached)
    term_left = None if term is None else term.left
    if ratio is None:
        return KindOutcome(lines=lines, reasons=tuple(reasons), term_left=term_left, **matched)

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
    if term is not None:
        if gross > term.left:
            payout = term.left
            steps.append(f"capped at the {term.text}")
        else:
            steps.append(f"within the {term.text}")
    if rules.ends_cover_after_payout:
        steps.append("this payout ends the cover")
    return KindOutcome(
        lines=lines,
        reasons=tuple(reasons),
        payout=payout,
        benefit_text="; ".join(steps),
        term_left=term_left,
        **matched,
    )


def match_condition(rules: FixedBenefitRules, code: str) -> tuple[Condition, str] | None:
    """The condition listing the longest ICD-10 prefix of `code`, and that prefix.

    Prefixes are compared without the dot ('C50.9' matches 'C509' and 'C50'); the plan
    guarantees a prefix is listed under one condition only, so the longest match is unique.
    """
    wanted = normalise_icd10(code)
    best: tuple[Condition, str] | None = None
    best_length = -1
    for condition in rules.conditions:
        for prefix in condition.icd10:
            key = normalise_icd10(prefix)
            if wanted.startswith(key) and len(key) > best_length:
                best, best_length = (condition, prefix), len(key)
    return best


def condition_amount(condition: Condition, prefix: str, shares: int | None) -> tuple[Decimal, str]:
    """The condition's amount x shares (per share without a cover), and how it was found."""
    described = (
        f"{condition.code} {condition.name} (ICD-10 prefix {prefix}, group {condition.group})"
    )
    if shares is None:
        amount = condition.amount_per_share
        return amount, f"{described}: {format_money(amount)} per share"
    amount = condition.amount_per_share * shares
    return amount, (
        f"{described}: {format_money(condition.amount_per_share)} x {shares_text(shares)} "
        f"= {format_money(amount)}"
    )
