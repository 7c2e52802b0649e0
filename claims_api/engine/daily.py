"""daily_allowance: a sum per day of a hospital stay, from a given day of the stay.

Stay -> paid days x amount per day x shares -> period ratio -> term cap (DOMAIN.md,
"Benefit rules by kind").
"""

from decimal import Decimal

from services.kit.money import format_money, percent, to_fen
from services.kit.plan_rules import DailyAllowanceRules

from .assessment import AssessmentLine, KindOutcome, Reason, shares_text, term_cap
from .facts import DailyFacts, Usage


def assess_daily(
    rules: DailyAllowanceRules,
    facts: DailyFacts,
    *,
    shares: int | None,
    ratio: Decimal | None,
    usage: Usage,
) -> KindOutcome:
    """(The arguments as for hospital.assess_hospital.)"""
    reasons: list[Reason] = []
    days = facts.days
    submitted = AssessmentLine(
        category="submitted",
        text=(
            f"stay at {facts.hospital} from {facts.admitted_on} to {facts.discharged_on}: "
            f"{days} days"
        ),
    )
    eligible, eligible_text = days_amount(rules, days, shares)
    lines = (submitted, AssessmentLine(category="eligible", amount=eligible, text=eligible_text))
    if shares is None:
        return KindOutcome(lines=lines)

    term = term_cap(rules.term_cap_per_share, shares, usage.used)
    cap_reached = term.reached()
    if cap_reached is not None:
        reasons.append(cap_reached)
    if ratio is None:
        return KindOutcome(lines=lines, reasons=tuple(reasons), term_left=term.left)

    after_ratio = to_fen(eligible * ratio)
    if ratio != 1:
        ratio_step = f"{format_money(eligible)} x {percent(ratio)} = {format_money(after_ratio)}"
    else:
        ratio_step = f"daily allowance {format_money(after_ratio)}"
    payout = min(after_ratio, term.left)
    cap_step = f"capped at the {term.text}" if payout < after_ratio else f"within the {term.text}"
    return KindOutcome(
        lines=lines,
        reasons=tuple(reasons),
        payout=payout,
        benefit_text=f"{ratio_step}; {cap_step}",
        term_left=term.left,
    )


def paid_days(rules: DailyAllowanceRules, days: int) -> int:
    """Days `from_day` to the last day of the stay, at most `max_days_per_stay`."""
    return min(max(0, days - rules.from_day + 1), rules.max_days_per_stay)


def days_amount(rules: DailyAllowanceRules, days: int, shares: int | None) -> tuple[Decimal, str]:
    """Paid days x amount per day x shares (per share without a cover), and how."""
    paid = paid_days(rules, days)
    per_day = rules.amount_per_day_per_share
    if days < rules.from_day:
        days_text = f"a stay of {days} days ends before day {rules.from_day}: 0 days paid"
    elif paid < days - rules.from_day + 1:
        days_text = (
            f"days {rules.from_day} to {days} paid, at most {rules.max_days_per_stay} per stay: "
            f"{paid} days"
        )
    else:
        days_text = f"days {rules.from_day} to {days} paid: {paid} days"
    if shares is None:
        return paid * per_day, f"{days_text}, {paid} x {format_money(per_day)} per share"
    amount = paid * per_day * shares
    return amount, (
        f"{days_text}, {paid} x {format_money(per_day)} x {shares_text(shares)} "
        f"= {format_money(amount)}"
    )
