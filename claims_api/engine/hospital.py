"""hospital_reimbursement: a second reimbursement of one stay after basic medical insurance."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from services.plan_rules import Band, HospitalReimbursementRules

from .assessment import (
    ZERO,
    Assessment,
    Reason,
    amount_line,
    finish,
    shares_text,
)
from .facts import HospitalFacts, Usage
from .fast import (
    FEN,
    format_money,
    money_pair,
    money_text,
    percent_text,
    to_fen,
)
from .periods import FULL, Verdict


def base_amount(rules: HospitalReimbursementRules, facts: HospitalFacts) -> tuple[Decimal, str]:
    """The amount the plan reimburses from, and how it was taken from the bill."""
    if rules.base == "total_in_policy":
        base = facts.insurance_paid + facts.out_of_pocket_in_policy
        return base, (
            f"base (total in policy): insurance paid {money_text(facts.insurance_paid)} + "
            f"out of pocket in policy {money_text(facts.out_of_pocket_in_policy)} = "
            f"{money_text(base)}"
        )
    base = facts.out_of_pocket_in_policy
    return base, f"base (out of pocket in policy): {money_text(base)}"


def band_for(bands: list[Band], amount: Decimal) -> Band | None:
    """The band an amount falls in: the last one whose `above` it is strictly above."""
    found = None
    for band in bands:
        if amount > band.above:
            found = band
    return found


def progressive(bands: list[Band], amount: Decimal) -> tuple[Decimal, str]:
    """Each slice at its own band's ratio, like tax brackets; rounded once, at the sum."""
    slices: list[tuple[Decimal, Decimal]] = []
    last = len(bands) - 1
    for index, band in enumerate(bands):
        top = amount if index == last else min(amount, bands[index + 1].above)
        if top > band.above:
            slices.append((top - band.above, band.ratio))
    exact = ZERO
    for part, ratio in slices:
        exact += part * ratio
    total = to_fen(exact)
    if not slices:
        return total, f"progressive bands: nothing to reimburse, {money_text(total)}"
    terms = " + ".join(f"{money_text(part)} x {percent_text(ratio)}" for part, ratio in slices)
    return total, f"progressive bands: {terms} = {money_text(total)}"


def whole(bands: list[Band], amount: Decimal) -> tuple[Decimal, str]:
    """The whole amount at the ratio of the band it falls in."""
    band = band_for(bands, amount)
    if band is None:
        return ZERO, f"whole bands: nothing to reimburse, {money_text(ZERO)}"
    total = to_fen(amount * band.ratio)
    return total, (
        f"whole bands: {money_text(amount)} is in the band above {money_text(band.above)}, "
        f"{money_text(amount)} x {percent_text(band.ratio)} = {money_text(total)}"
    )


def banded(rules: HospitalReimbursementRules, amount: Decimal) -> tuple[Decimal, str]:
    if rules.band_mode == "whole":
        return whole(rules.bands, amount)
    return progressive(rules.bands, amount)


@dataclass(slots=True)
class _Plan:
    """What every claim under one rule set reuses: its constants and their texts, worked out
    once per rules object (the engine's answers are the same as from the rules themselves)."""

    rules: HospitalReimbursementRules
    total_in_policy: bool
    threshold: Decimal
    threshold_notes: tuple[str, str] | None  # (below, reaches), None without a threshold
    deductible: Decimal
    deductible_pair: tuple[Decimal | None, str]  # money_pair(deductible)
    deductible_head: str
    whole: bool
    # progressive: (above, the next band's above or None, ratio, ratio as a percentage)
    slices: tuple[tuple[Decimal, Decimal | None, Decimal, str], ...]
    stay_cap_per_share: Decimal
    stay_head: str
    term_cap_per_share: Decimal
    term_head: str
    max_claims: int | None
    by_shares: dict[int, "_Shares"]  # _shares(plan, shares), remembered


@dataclass(slots=True)
class _Shares:
    """What every claim of a cover with this many shares reuses under one rule set."""

    said: str  # shares_text(shares)
    term_cap: Decimal  # term_cap_per_share x shares
    stay_cap: Decimal  # per_stay_cap_per_share x shares
    stay_text: str  # "per-stay cap 10000.00 x 2 shares = 20000.00"


def _shares(plan: "_Plan", shares: int) -> _Shares:
    said = shares_text(shares)
    stay_cap = plan.stay_cap_per_share * shares
    found = _Shares(
        said=said,
        term_cap=plan.term_cap_per_share * shares,
        stay_cap=stay_cap,
        stay_text=f"{plan.stay_head}{said} = {money_text(stay_cap)}",
    )
    if type(shares) is int:  # (True is 1 to a dict, but says "True share")
        if len(plan.by_shares) >= _CACHE_SIZE:
            plan.by_shares.clear()
        plan.by_shares[shares] = found
    return found


_CACHE_SIZE = 256
_plans: dict[int, _Plan] = {}


def _plan(rules: HospitalReimbursementRules) -> _Plan:
    plan = _plans.get(id(rules))
    if plan is not None and plan.rules is rules:  # the cache holds rules: ids are not reused
        return plan
    bands = rules.bands
    uppers: list[Decimal | None] = [band.above for band in bands[1:]]
    uppers.append(None)
    threshold_notes = None
    if rules.threshold > 0:
        threshold_notes = (
            f"below the threshold {money_text(rules.threshold)}, nothing is paid",
            f"reaches the threshold {money_text(rules.threshold)} (not subtracted)",
        )
    deductible_pair = money_pair(rules.deductible)
    plan = _Plan(
        rules=rules,
        total_in_policy=rules.base == "total_in_policy",
        threshold=rules.threshold,
        threshold_notes=threshold_notes,
        deductible=rules.deductible,
        deductible_pair=deductible_pair,
        deductible_head=f"deductible {deductible_pair[1]} per stay: ",
        whole=rules.band_mode == "whole",
        slices=tuple(
            (band.above, upper, band.ratio, percent_text(band.ratio))
            for band, upper in zip(bands, uppers, strict=True)
        ),
        stay_cap_per_share=rules.per_stay_cap_per_share,
        stay_head=f"per-stay cap {money_text(rules.per_stay_cap_per_share)} x ",
        term_cap_per_share=rules.term_cap_per_share,
        term_head=f"term cap left: {money_text(rules.term_cap_per_share)} x ",
        max_claims=rules.max_claims_per_term,
        by_shares={},
    )
    if len(_plans) >= _CACHE_SIZE:
        _plans.clear()
    _plans[id(rules)] = plan
    return plan


def _progressive(plan: _Plan, amount: Decimal) -> tuple[Decimal, str]:
    """`progressive(rules.bands, amount)`, from the plan's band table."""
    exact = ZERO
    parts: list[str] = []
    for above, upper, ratio, ratio_text in plan.slices:
        # min(amount, upper), as min() answers: the first of two equal values
        top = amount if upper is None or not upper < amount else upper
        if top > above:
            part = top - above
            exact += part * ratio
            part_text = str(part)
            if part_text[-3:-2] != ".":  # money_text(part): str() shows "d.dd" as it is
                part_text = format_money(part)
            parts.append(f"{part_text} x {ratio_text}")
    total = exact.quantize(FEN, ROUND_HALF_UP)  # to_fen(exact)
    # money_text(total) is str(total): a quantized amount shows its two places
    if not parts:
        return total, f"progressive bands: nothing to reimburse, {str(total)}"
    return total, f"progressive bands: {' + '.join(parts)} = {str(total)}"


def assess_hospital(
    rules: HospitalReimbursementRules,
    facts: HospitalFacts,
    shares: int | None,
    ratio: Decimal | None,
    period: Verdict | None,
    usage: Usage,
    reasons: list[Reason],
    rules_version: str,
) -> Assessment:
    """Bill -> base -> threshold -> deductible -> bands -> period ratio -> caps.

    `shares` is None when no enrolment covers the claim, `ratio` None when the event is not
    covered (no cover, or waiting period): the steps that need them are then left out.
    `period`, `reasons` (the dispatcher's so far) and `rules_version` go to `finish`.
    """
    plan = _plans.get(id(rules))
    if plan is None or plan.rules is not rules:  # the cache holds rules: ids are not reused
        plan = _plan(rules)
    insurance, out_of_pocket = facts.insurance_paid, facts.out_of_pocket_in_policy
    self_pay, total_cost = facts.self_pay, facts.total_cost
    # money_text(x) is str(x) when that shows "d.dd" (validated amounts do), written out here
    insurance_text = str(insurance)
    if insurance_text[-3:-2] != ".":
        insurance_text = format_money(insurance)
    self_pay_text = str(self_pay)
    if self_pay_text[-3:-2] != ".":
        self_pay_text = format_money(self_pay)
    out_of_pocket_fen, out_of_pocket_text = money_pair(out_of_pocket)
    if type(facts) is HospitalFacts:
        parts = insurance + out_of_pocket + self_pay  # facts.parts_total, without the call
    else:
        parts = facts.parts_total
    total_fen, total_text = money_pair(total_cost)
    if parts == total_cost:  # the sentence below in one piece
        submitted = (
            f"total cost {total_text} = insurance paid {insurance_text} + out of pocket in "
            f"policy {out_of_pocket_text} + self pay {self_pay_text}"
        )
    else:
        parts_text = (
            f"insurance paid {insurance_text} + out of pocket in policy {out_of_pocket_text} + "
            f"self pay {self_pay_text}"
        )
        submitted = f"total cost {total_text} is not {parts_text} = {money_text(parts)}"
        reasons.append(("amounts_inconsistent", submitted))

    # base_amount(rules, facts)
    if plan.total_in_policy:
        base = insurance + out_of_pocket
        base_fen, base_text = money_pair(base)
        eligible_text = (
            f"base (total in policy): insurance paid {insurance_text} + "
            f"out of pocket in policy {out_of_pocket_text} = {base_text}"
        )
    else:
        base, base_fen, base_text = out_of_pocket, out_of_pocket_fen, out_of_pocket_text
        eligible_text = f"base (out of pocket in policy): {base_text}"
    if plan.threshold_notes is not None:
        if base < plan.threshold:
            note = plan.threshold_notes[0]
            reasons.append(("below_threshold", f"{eligible_text}, {note}"))
        else:
            note = plan.threshold_notes[1]
        eligible_text = f"{eligible_text}, {note}"

    # min(deductible, base), as min() answers: the first of two equal values
    deductible = plan.deductible
    if base < deductible:
        deducted, deducted_fen, deducted_text = base, base_fen, base_text
    else:
        deducted = deductible
        deducted_fen, deducted_text = plan.deductible_pair
    eligible = base - deducted
    eligible_said = str(eligible)
    if eligible_said[-3:-2] != ".":  # money_text(eligible)
        eligible_said = format_money(eligible)
    deductible_text = f"{plan.deductible_head}{base_text} - {deducted_text} = {eligible_said}"
    lines = [
        amount_line("submitted", submitted, total_cost, total_fen),
        amount_line("eligible", eligible_text, base, base_fen),
        amount_line("deductible", deductible_text, deducted, deducted_fen),
    ]
    if plan.whole:
        amount, band_text = whole(rules.bands, eligible)
    else:
        amount, band_text = _progressive(plan, eligible)

    if shares is None:
        return finish(lines, reasons, None, band_text, None, period, rules_version)

    # term_cap(rules.term_cap_per_share, shares, usage.used), the per-stay cap, their texts
    per_shares = plan.by_shares.get(shares)
    if per_shares is None or type(shares) is not int:
        per_shares = _shares(plan, shares)
    used = usage.used
    left = per_shares.term_cap - used
    term_left = left if left > ZERO else ZERO  # max(ZERO, left), as max() answers
    used_text = str(used)
    if used_text[-3:-2] != ".":  # money_text(used)
        used_text = format_money(used)
    left_text = str(term_left)
    if left_text[-3:-2] != ".":  # money_text(term_left)
        left_text = format_money(term_left)
    term_text = f"{plan.term_head}{per_shares.said} - {used_text} used = {left_text}"
    if term_left <= 0:  # cap_reached(term_left, term_text)
        reasons.append(("cap_reached", f"nothing is left of the {term_text}"))
    limit = plan.max_claims
    if limit is not None and usage.claims_count >= limit:
        reasons.append(
            ("cap_reached", f"{usage.claims_count} claims already paid, at most {limit} a term")
        )
    if ratio is None:
        return finish(lines, reasons, None, band_text, term_left, period, rules_version)

    if ratio is FULL:  # amount x 1 is amount, to the exponent; already to the fen
        after_ratio = amount
        ratio_step = None
    else:
        after_ratio = (amount * ratio).quantize(FEN, ROUND_HALF_UP)  # to_fen
        ratio_step = None
        if ratio != 1:
            ratio_step = (
                f"{money_text(amount)} x {percent_text(ratio)} period ratio = "
                f"{money_text(after_ratio)}"
            )
    stay_cap = per_shares.stay_cap
    payout = after_ratio  # min(after_ratio, stay_cap, term_left), as min() answers
    if stay_cap < payout:
        payout = stay_cap
    if term_left < payout:
        payout = term_left
    if payout == after_ratio:
        cap_step = f"within the {per_shares.stay_text} and the {term_text}"
    elif payout == stay_cap:
        cap_step = f"capped at the {per_shares.stay_text}"
    else:
        cap_step = f"capped at the {term_text}"
    if ratio_step is None:
        benefit_text = f"{band_text}; {cap_step}"
    else:
        benefit_text = f"{band_text}; {ratio_step}; {cap_step}"
    return finish(lines, reasons, payout, benefit_text, term_left, period, rules_version)
