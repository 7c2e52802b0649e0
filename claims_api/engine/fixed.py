"""fixed_benefit: a fixed sum per share for the first diagnosis of a listed condition."""

from decimal import Decimal

from services.plan_rules import Condition, FixedBenefitRules, normalise_icd10

from .assessment import (
    Assessment,
    AssessmentLine,
    Reason,
    amount_line,
    cap_reached,
    finish,
    shares_text,
    term_cap,
    term_cap_left,
    text_line,
)
from .facts import FixedFacts, Usage
from .fast import day_text, money_text, percent_text, to_fen
from .periods import Verdict


def match_condition(rules: FixedBenefitRules, code: str) -> tuple[Condition, str] | None:
    """The condition listing the longest ICD-10 prefix of `code`, and that prefix.

    Prefixes are compared without the dot ('C50.9' matches 'C509' and 'C50'); the plan
    guarantees a prefix is listed under one condition only, so the longest match is unique.
    """
    wanted = _normalised(code)
    best: tuple[Condition, str] | None = None
    best_length = -1
    for key, condition, prefix in _prefixes(rules):
        if wanted.startswith(key) and len(key) > best_length:
            best, best_length = (condition, prefix), len(key)
    return best


_CACHE_SIZE = 256
_codes: dict[str, str] = {}
_rules_prefixes: dict[int, tuple[FixedBenefitRules, list[tuple[str, Condition, str]]]] = {}


def _normalised(code: str) -> str:
    """normalise_icd10, remembered: a plan's codes and prefixes come back claim after claim."""
    key = _codes.get(code)
    if key is None:
        key = normalise_icd10(code)
        if len(_codes) >= _CACHE_SIZE:
            _codes.clear()
        _codes[code] = key
    return key


def _prefixes(rules: FixedBenefitRules) -> list[tuple[str, Condition, str]]:
    """(normalised prefix, condition, prefix) in the plan's order, once per rules object (the
    cache keeps the object, so its id is not reused while cached)."""
    cached = _rules_prefixes.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    found = [
        (_normalised(prefix), condition, prefix)
        for condition in rules.conditions
        for prefix in condition.icd10
    ]
    if len(_rules_prefixes) >= _CACHE_SIZE:
        _rules_prefixes.clear()
    _rules_prefixes[id(rules)] = (rules, found)
    return found


_eligibles: dict[
    tuple[int, str, str, int | None], tuple[FixedBenefitRules, Decimal, AssessmentLine]
] = {}


def _eligible(
    rules: FixedBenefitRules, condition: Condition, prefix: str, shares: int | None
) -> tuple[FixedBenefitRules, Decimal, AssessmentLine]:
    """(rules, the eligible amount, its eligible line) for a condition matched by `prefix` on a
    cover of `shares`, remembered per rules object (the cache holds it, so its id is not
    reused meanwhile; condition codes are unique in a plan): claims under one plan match a few
    conditions on covers of a few share counts. The line is frozen, so answers may share it.
    """
    described = (
        f"{condition.code} {condition.name} (ICD-10 prefix {prefix}, group {condition.group})"
    )
    if shares is None:
        eligible = condition.amount_per_share
        eligible_text = f"{described}: {money_text(eligible)} per share"
    else:
        eligible = condition.amount_per_share * shares
        eligible_text = (
            f"{described}: {money_text(condition.amount_per_share)} x {shares_text(shares)} "
            f"= {money_text(eligible)}"
        )
    found = (rules, eligible, amount_line("eligible", eligible_text, eligible))
    if shares is None or type(shares) is int:  # (True is 1 to a dict, but says "True share")
        if len(_eligibles) >= _CACHE_SIZE:
            _eligibles.clear()
        _eligibles[(id(rules), condition.code, prefix, shares)] = found
    return found


def assess_fixed(
    rules: FixedBenefitRules,
    facts: FixedFacts,
    shares: int | None,
    ratio: Decimal | None,
    period: Verdict | None,
    usage: Usage,
    reasons: list[Reason],
    rules_version: str,
) -> Assessment:
    """Diagnosis -> condition -> amount x shares x period ratio + fixed extra -> term cap.

    (The arguments as for hospital.assess_hospital.)"""
    submitted = text_line(
        "submitted",
        f"first diagnosis {facts.diagnosis_code} on {day_text(facts.diagnosed_on)} at "
        f"{facts.hospital}, pathology report {facts.pathology_report_no}",
    )
    match = match_condition(rules, facts.diagnosis_code)
    if match is None:
        text = f"ICD-10 code {facts.diagnosis_code} matches no condition of the plan"
        reasons.append(("condition_not_covered", text))
        lines = [submitted, text_line("eligible", text)]
        term_left = None
        if shares is not None and rules.term_cap_per_share is not None:
            term_left = term_cap_left(rules.term_cap_per_share, shares, usage.used)
        return finish(lines, reasons, None, "", term_left, period, rules_version)

    condition, prefix = match
    key = (id(rules), condition.code, prefix, shares)
    found = _eligibles.get(key)
    if found is None or found[0] is not rules or (shares is not None and type(shares) is not int):
        found = _eligible(rules, condition, prefix, shares)
    eligible = found[1]
    lines = [submitted, found[2]]
    group, code, ends_cover = condition.group, condition.code, rules.ends_cover_after_payout
    if shares is None:
        return finish(
            lines, reasons, None, "", None, period, rules_version, group, code, ends_cover
        )

    if group in usage.groups_paid:
        reasons.append(("already_paid_group", f"group {group} was already paid on this enrolment"))
    term_left = term_text = None
    if rules.term_cap_per_share is not None:
        term_left, term_text = term_cap(rules.term_cap_per_share, shares, usage.used)
        cap_reason = cap_reached(term_left, term_text)
        if cap_reason is not None:
            reasons.append(cap_reason)
    if ratio is None:
        return finish(
            lines, reasons, None, "", term_left, period, rules_version, group, code, ends_cover
        )

    steps = []
    after_ratio = to_fen(eligible * ratio)
    gross = after_ratio + rules.fixed_extra
    if ratio != 1:
        steps.append(f"{money_text(eligible)} x {percent_text(ratio)} = {money_text(after_ratio)}")
    if rules.fixed_extra > 0:
        steps.append(
            f"{money_text(after_ratio)} + fixed extra {money_text(rules.fixed_extra)} "
            f"= {money_text(gross)}"
        )
    if not steps:
        steps.append(f"fixed benefit {money_text(gross)}")
    payout = gross
    if term_left is not None and term_text is not None:
        if gross > term_left:
            payout = term_left
            steps.append(f"capped at the {term_text}")
        else:
            steps.append(f"within the {term_text}")
    if ends_cover:
        steps.append("this payout ends the cover")
    return finish(
        lines,
        reasons,
        payout,
        "; ".join(steps),
        term_left,
        period,
        rules_version,
        group,
        code,
        ends_cover,
    )
