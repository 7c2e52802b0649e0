"""Dates of the cover: is the event covered, at which ratio, and was the claim filed in time
and after the event (DOMAIN.md, "Plans": waiting and reduced periods; "Claims": the checks)."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from services.kit.money import percent
from services.kit.plan_rules import EnrollmentCover, PlanTerms

from .assessment import FULL, Reason


def cover_reasons(
    cover: EnrollmentCover | None, event_date: date, cover_ended: bool
) -> list[Reason]:
    """`not_enrolled` and `member_left`: is there a live cover for the event at all."""
    reasons: list[Reason] = []
    if cover is None:
        reasons.append(("not_enrolled", f"no enrolment covers the event on {event_date}"))
    elif not in_cover(cover, event_date):
        reasons.append(
            (
                "not_enrolled",
                f"the event on {event_date} is outside the cover "
                f"{cover.starts_on} to {cover.ends_on}",
            )
        )
    elif cover_ended:
        reasons.append(("not_enrolled", "the cover ended with an earlier payout"))
    left_on = cover.member_left_on if cover is not None else None
    if left_on is not None and event_date > left_on:
        reasons.append(
            ("member_left", f"the event on {event_date} is after the member left on {left_on}")
        )
    return reasons


def in_cover(cover: EnrollmentCover | None, event_date: date) -> bool:
    return cover is not None and cover.starts_on <= event_date <= cover.ends_on


@dataclass(frozen=True, slots=True)
class PeriodDecision:
    """The waiting / reduced period ratio for an event; None: the waiting period refuses it."""

    ratio: Decimal | None
    text: str


def period_decision(terms: PlanTerms, cover: EnrollmentCover, event_date: date) -> PeriodDecision:
    """Waiting period: not covered; reduced period: `terms.reduced_ratio`; after: full benefit.

    The period ends are the last days of each period (inclusive), as on the enrolment.
    """
    waiting_ends_on, reduced_ends_on = cover.waiting_ends_on, cover.reduced_ends_on
    if waiting_ends_on is not None and event_date <= waiting_ends_on:
        return PeriodDecision(
            None, f"waiting period until {waiting_ends_on}: an event on {event_date} is not covered"
        )
    if reduced_ends_on is not None and event_date <= reduced_ends_on:
        return PeriodDecision(
            terms.reduced_ratio,
            f"reduced period until {reduced_ends_on}: an event on {event_date} gets "
            f"{percent(terms.reduced_ratio)} of the benefit",
        )
    if cover.renewal:
        text = "renewal: no waiting or reduced period, full benefit (100%)"
    elif reduced_ends_on is not None or waiting_ends_on is not None:
        last = reduced_ends_on or waiting_ends_on
        text = f"an event on {event_date} is after the periods ending {last}: full benefit (100%)"
    else:
        text = "no waiting or reduced period: full benefit (100%)"
    return PeriodDecision(FULL, text)


def claim_deadline(terms: PlanTerms, end_date: date) -> date:
    """The last day a claim may be filed: discharge / diagnosis plus `claim_deadline_days`."""
    return end_date + timedelta(days=terms.claim_deadline_days)


def deadline_reason(terms: PlanTerms, end_date: date, filed_on: date) -> Reason | None:
    deadline = claim_deadline(terms, end_date)
    if filed_on <= deadline:
        return None
    return (
        "deadline_passed",
        f"filed on {filed_on}, after the deadline {deadline}, "
        f"{terms.claim_deadline_days} days after {end_date}",
    )


def future_reason(event_date: date, end_date: date, filed_on: date) -> Reason | None:
    """An admission, discharge or diagnosis after the day of filing: nothing has happened yet
    that the scheme could pay for."""
    if end_date <= filed_on:  # the facts' own check keeps event_date <= end_date
        return None
    if event_date == end_date:
        happened = f"dated {event_date}"
    else:
        happened = f"from {event_date} to {end_date}"
    return ("event_in_future", f"the event is {happened}, after the day of filing {filed_on}")
