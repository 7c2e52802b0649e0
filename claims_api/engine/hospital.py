"""hospital_reimbursement: a second reimbursement of one stay after basic medical insurance.

Bill -> base -> threshold -> deductible -> bands -> period ratio -> caps (DOMAIN.md,
"Benefit rules by kind").
"""

from decimal import Decimal

from services.kit.money import format_money, percent, to_fen
from services.kit.plan_rules import Band, HospitalReimbursementRules

from .assessment import ZERO, AssessmentLine, KindOutcome, Reason, shares_text, term_cap
from .facts import HospitalFacts, Usage


def assess_hospital(
    rules: HospitalReimbursementRules,
    facts: HospitalFacts,
    *,
    shares: int | None,
    ratio: Decimal | None,
    usage: Usage,
) -> KindOutcome:
    """`shares` is None when no enrolment covers the claim, `ratio` None when the event is not
    covered (no cover, or the waiting period): the steps that need them are then left out."""
    reasons: list[Reason] = []
    submitted, inconsistent = bill_text(facts)
    if inconsistent:
        reasons.append(("amounts_inconsistent", submitted))

    base, eligible_text = base_amount(rules, facts)
    if rules.threshold > 0:
        if base < rules.threshold:
            note = f"below the threshold {format_money(rules.threshold)}, nothing is paid"
            reasons.append(("below_threshold", f"{eligible_text}, {note}"))
        else:
            note = f"reaches the threshold {format_money(rules.threshold)} (not subtracted)"
        eligible_text = f"{eligible_text}, {note}"

    deducted = to_fen(min(rules.deductible, base))  # to the fen: a default deductible is 0
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

    term = term_cap(rules.term_cap_per_share, shares, usage.used)
    cap_reached = term.reached()
    if cap_reached is not None:
        reasons.append(cap_reached)
    limit = rules.max_claims_per_term
    if limit is not None and usage.claims_count >= limit:
        reasons.append(
            ("cap_reached", f"{usage.claims_count} claims already paid, at most {limit} a term")
        )
    if ratio is None:
        return KindOutcome(
            lines=lines, reasons=tuple(reasons), benefit_text=band_text, term_left=term.left
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
    payout = min(after_ratio, stay_cap, term.left)
    if payout == after_ratio:
        steps.append(f"within the {stay_text} and the {term.text}")
    elif payout == stay_cap:
        steps.append(f"capped at the {stay_text}")
    else:
        steps.append(f"capped at the {term.text}")
    return KindOutcome(
        lines=lines,
        reasons=tuple(reasons),
        payout=payout,
        benefit_text="; ".join(steps),
        term_left=term.left,
    )


def bill_text(facts: HospitalFacts) -> tuple[str, bool]:
    """The bill as the insurance settled it, and whether its three parts miss its total."""
    parts = facts.insurance_paid + facts.out_of_pocket_in_policy + facts.self_pay
    parts_text = (
        f"insurance paid {format_money(facts.insurance_paid)} + out of pocket in policy "
        f"{format_money(facts.out_of_pocket_in_policy)} + self pay {format_money(facts.self_pay)}"
    )
    total = format_money(facts.total_cost)
    if parts == facts.total_cost:
        return f"total cost {total} = {parts_text}", False
    return f"total cost {total} is not {parts_text} = {format_money(parts)}", True


def base_amount(rules: HospitalReimbursementRules, facts: HospitalFacts) -> tuple[Decimal, str]:
    """The amount the plan reimburses from, and how it was taken from the bill."""
    if rules.base == "total_in_policy":
        base = facts.insurance_paid + facts.out_of_pocket_in_policy
        return base, (
            f"base (total in policy): insurance paid {format_money(facts.insurance_paid)} + "
            f"out of pocket in policy {format_money(facts.out_of_pocket_in_policy)} = "
            f"{format_money(base)}"
        )
    base = facts.out_of_pocket_in_policy
    return base, f"base (out of pocket in policy): {format_money(base)}"


def progressive(bands: list[Band], amount: Decimal) -> tuple[Decimal, str]:
    """Each slice at its own band's ratio, like tax brackets; rounded once, at the sum."""
    slices: list[tuple[Decimal, Decimal]] = []
    uppers = [band.above for band in bands[1:]] + [None]
    for band, upper in zip(bands, uppers, strict=True):
        top = amount if upper is None else min(amount, upper)
        if top > band.above:
            slices.append((top - band.above, band.ratio))
    total = to_fen(sum((part * ratio for part, ratio in slices), ZERO))
    if not slices:
        return total, f"progressive bands: nothing to reimburse, {format_money(total)}"
    terms = " + ".join(f"{format_money(part)} x {percent(ratio)}" for part, ratio in slices)
    return total, f"progressive bands: {terms} = {format_money(total)}"


def whole(bands: list[Band], amount: Decimal) -> tuple[Decimal, str]:
    """The whole amount at the ratio of the band it falls in: the last one it is above."""
    band = next((band for band in reversed(bands) if amount > band.above), None)
    if band is None:
        return ZERO, f"whole bands: nothing to reimburse, {format_money(ZERO)}"
    total = to_fen(amount * band.ratio)
    return total, (
        f"whole bands: {format_money(amount)} is in the band above {format_money(band.above)}, "
        f"{format_money(amount)} x {percent(band.ratio)} = {format_money(total)}"
    )
