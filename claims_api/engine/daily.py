"""daily_allowance: a sum per day of a hospital stay, from a given day of the stay."""

from decimal import Decimal

from services.plan_rules import DailyAllowanceRules

from .assessment import (
    Assessment,
    AssessmentLine,
    Reason,
    amount_line,
    cap_reached,
    finish,
    shares_text,
    term_cap,
    text_line,
)
from .facts import DailyFacts, Usage
from .fast import day_text, money_text, percent_text, to_fen
from .periods import Verdict


def paid_days(rules: DailyAllowanceRules, days: int) -> int:
    """Days `from_day` to the last day of the stay, at most `max_days_per_stay`."""
    return min(max(0, days - rules.from_day + 1), rules.max_days_per_stay)


def _days_text(rules: DailyAllowanceRules, days: int, paid: int) -> str:
    if days < rules.from_day:
        return f"a stay of {days} days ends before day {rules.from_day}: 0 days paid"
    text = f"days {rules.from_day} to {days} paid"
    if paid < days - rules.from_day + 1:
        return f"{text}, at most {rules.max_days_per_stay} per stay: {paid} days"
    return f"{text}: {paid} days"


_CACHE_SIZE = 1024
_eligibles: dict[
    tuple[int, int, int | None], tuple[DailyAllowanceRules, Decimal, AssessmentLine]
] = {}


def _eligible(
    rules: DailyAllowanceRules, days: int, shares: int | None
) -> tuple[DailyAllowanceRules, Decimal, AssessmentLine]:
    """(rules, the eligible amount, its eligible line) for a stay of `days` on a cover of
    `shares`, remembered per rules object (the cache holds it, so its id is not reused
    meanwhile): stays last a few days to a few weeks, on covers of a few share counts. The
    line is frozen, so answers may share it."""
    paid = paid_days(rules, days)
    per_day = rules.amount_per_day_per_share
    days_text = _days_text(rules, days, paid)
    if shares is None:
        eligible = paid * per_day
        eligible_text = f"{days_text}, {paid} x {money_text(per_day)} per share"
    else:
        eligible = paid * per_day * shares
        eligible_text = (
            f"{days_text}, {paid} x {money_text(per_day)} x {shares_text(shares)} "
            f"= {money_text(eligible)}"
        )
    found = (rules, eligible, amount_line("eligible", eligible_text, eligible))
    if shares is None or type(shares) is int:  # (True is 1 to a dict, but says "True share")
        if len(_eligibles) >= _CACHE_SIZE:
            _eligibles.clear()
        _eligibles[(id(rules), days, shares)] = found
    return found


def assess_daily(
    rules: DailyAllowanceRules,
    facts: DailyFacts,
    shares: int | None,
    ratio: Decimal | None,
    period: Verdict | None,
    usage: Usage,
    reasons: list[Reason],
    rules_version: str,
) -> Assessment:
    """Stay -> paid days x amount per day x shares -> period ratio -> term cap.

    (The arguments as for hospital.assess_hospital.)"""
    admitted_on, discharged_on = facts.admitted_on, facts.discharged_on
    # facts.days, without the property call unless a subclass might answer otherwise
    days = (discharged_on - admitted_on).days if type(facts) is DailyFacts else facts.days
    submitted = text_line(
        "submitted",
        f"stay at {facts.hospital} from {day_text(admitted_on)} to {day_text(discharged_on)}: "
        f"{days} days",
    )
    found = _eligibles.get((id(rules), days, shares))
    if found is None or found[0] is not rules or (shares is not None and type(shares) is not int):
        found = _eligible(rules, days, shares)
    eligible = found[1]
    lines = [submitted, found[2]]
    if shares is None:
        return finish(lines, reasons, None, "", None, period, rules_version)

    term_left, term_text = term_cap(rules.term_cap_per_share, shares, usage.used)
    cap_reason = cap_reached(term_left, term_text)
    if cap_reason is not None:
        reasons.append(cap_reason)
    if ratio is None:
        return finish(lines, reasons, None, "", term_left, period, rules_version)

    after_ratio = to_fen(eligible * ratio)
    if ratio != 1:
        ratio_step = f"{money_text(eligible)} x {percent_text(ratio)} = {money_text(after_ratio)}"
    else:
        ratio_step = f"daily allowance {money_text(after_ratio)}"
    payout = min(after_ratio, term_left)
    cap_step = f"capped at the {term_text}" if payout < after_ratio else f"within the {term_text}"
    return finish(
        lines, reasons, payout, f"{ratio_step}; {cap_step}", term_left, period, rules_version
    )
