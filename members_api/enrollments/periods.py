"""An enrolment's dates and contribution, computed from the plan's terms (DOMAIN.md, "Plans").

Pure: no database, no clock. Every `*_ends_on` is the last day of its period (inclusive): with
30 waiting days, 90 reduced days and cover from 2026-01-01, the waiting period ends 2026-01-30
and the reduced period 2026-03-31.

Under `cover_requires_payment` cover starts on the later of `starts_on` and the day the
contribution was paid in full (DOMAIN.md, "Contributions"). The enrolment's row keeps the
periods counted from `starts_on`, as enrolled; `in_force` moves them to the day cover really
starts, so that a payment (or its reversal) never has to rewrite them.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from services.kit.money import to_fen
from services.kit.plan_rules import PlanTerms

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Periods:
    starts_on: date
    ends_on: date
    waiting_ends_on: date | None
    reduced_ends_on: date | None
    renewal: bool


def default_starts_on(enrolled_on: date, coverage_start: date) -> date:
    """A late joiner is covered from the day after enrolment; an early one from cover start."""
    return max(enrolled_on + ONE_DAY, coverage_start)


def is_renewal(starts_on: date, previous_ends: Iterable[date], grace_days: int) -> bool:
    """Renewal: a previous edition of the same line ended before `starts_on` with at most
    `grace_days` uncovered days between them (ending the day before is a gap of 0 days)."""
    return any(
        ended < starts_on and (starts_on - ended).days - 1 <= grace_days for ended in previous_ends
    )


def _last_day(starts_on: date, days: int) -> date | None:
    return starts_on + timedelta(days=days - 1) if days else None


def periods(terms: PlanTerms, starts_on: date, renewal: bool) -> Periods:
    """The cover runs from `starts_on` to the plan's `coverage_end`; a renewal has no waiting
    or reduced period, a first-time member has the plan's, counted from `starts_on`."""
    if renewal:
        waiting_ends_on = reduced_ends_on = None
    else:
        waiting_ends_on = _last_day(starts_on, terms.waiting_days)
        reduced_ends_on = _last_day(starts_on, terms.reduced_days)
    return Periods(
        starts_on=starts_on,
        ends_on=terms.coverage_end,
        waiting_ends_on=waiting_ends_on,
        reduced_ends_on=reduced_ends_on,
        renewal=renewal,
    )


def contribution_due(terms: PlanTerms, shares: int) -> Decimal:
    """Contribution per share times shares, to the fen (half-up)."""
    return to_fen(terms.contribution_per_share * shares)


@dataclass(frozen=True)
class InForce:
    """When an enrolment's cover really starts, and its periods counted from that day.

    `covered_from` is None while a plan that requires payment has not been paid in full; the
    periods are then those counted from `starts_on` (what they will be if it is paid by then).
    """

    covered_from: date | None
    waiting_ends_on: date | None
    reduced_ends_on: date | None


def in_force(
    starts_on: date,
    waiting_ends_on: date | None,
    reduced_ends_on: date | None,
    paid_on: date | None,
    requires_payment: bool,
) -> InForce:
    """`starts_on` and the periods as stored (counted from `starts_on`), and `paid_on` the day
    the contribution was paid in full: a payment after `starts_on` moves cover and periods to
    that day; one on or before it changes nothing."""
    starts = covered_from(starts_on, paid_on, requires_payment)
    if starts is None or starts == starts_on:
        return InForce(starts, waiting_ends_on, reduced_ends_on)
    late = starts - starts_on
    return InForce(
        starts,
        None if waiting_ends_on is None else waiting_ends_on + late,
        None if reduced_ends_on is None else reduced_ends_on + late,
    )


def covered_from(starts_on: date, paid_on: date | None, requires_payment: bool) -> date | None:
    """The day cover starts: `starts_on`, or, when the plan requires payment, the later of
    `starts_on` and `paid_on`; None while unpaid."""
    if not requires_payment:
        return starts_on
    if paid_on is None:
        return None
    return max(starts_on, paid_on)
