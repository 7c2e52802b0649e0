"""Dates of the cover: is the event covered, at which ratio, and was the claim filed in time."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from services.plan_rules import EnrollmentCover, PlanTerms

from .assessment import FULL, AssessmentLine, Reason, ratio_line
from .fast import day_text, percent_text

_NO_RATIO = Decimal("0")


@dataclass(frozen=True)
class PeriodDecision:
    """The waiting / reduced period ratio for an event: None means the waiting period refuses it."""

    ratio: Decimal | None
    text: str


def in_cover(cover: EnrollmentCover | None, event_date: date) -> bool:
    return cover is not None and cover.starts_on <= event_date <= cover.ends_on


def period_ratio(terms: PlanTerms, cover: EnrollmentCover, event_date: date) -> PeriodDecision:
    """Waiting period: not covered; reduced period: `terms.reduced_ratio`; after: full benefit.

    The period ends are the last days of each period (inclusive), as on the enrolment.
    """
    return PeriodDecision(*period_of(terms, cover, event_date))


def period_of(
    terms: PlanTerms, cover: EnrollmentCover, event_date: date
) -> tuple[Decimal | None, str]:
    """`period_ratio` as a plain (ratio, text) pair: what the dispatcher uses."""
    waiting_ends_on = cover.waiting_ends_on
    reduced_ends_on = cover.reduced_ends_on
    if waiting_ends_on is not None and event_date <= waiting_ends_on:
        return (
            None,
            f"waiting period until {day_text(waiting_ends_on)}: an event on "
            f"{day_text(event_date)} is not covered",
        )
    if reduced_ends_on is not None and event_date <= reduced_ends_on:
        return (
            terms.reduced_ratio,
            f"reduced period until {day_text(reduced_ends_on)}: an event on "
            f"{day_text(event_date)} gets "
            f"{percent_text(terms.reduced_ratio)} of the benefit",
        )
    if cover.renewal:
        text = "renewal: no waiting or reduced period, full benefit (100%)"
    elif reduced_ends_on is not None or waiting_ends_on is not None:
        last = reduced_ends_on or waiting_ends_on
        text = (
            f"an event on {day_text(event_date)} is after the periods ending {day_text(last)}: "
            "full benefit (100%)"
        )
    else:
        text = "no waiting or reduced period: full benefit (100%)"
    return FULL, text


Verdict = tuple[Decimal | None, str, AssessmentLine]
_CACHE_SIZE = 4096
_verdicts: dict[tuple[date, date | None, date | None, bool], Verdict] = {}


def period_verdict(terms: PlanTerms, cover: EnrollmentCover, event_date: date) -> Verdict:
    """`period_of`'s (ratio, text) and the eligpercent line that shows it (the ratio, 0 for the
    waiting period), remembered by the dates they depend on: claims under one plan fall on a
    few hundred days and most covers share their period ends (a renewal has none).

    Only the waiting period (no ratio) and the full benefit (FULL) are remembered; a reduced
    period answers the plan's own `reduced_ratio` object, so it is worked out every time. The
    line is frozen, so answers may share it.
    """
    key = (event_date, cover.waiting_ends_on, cover.reduced_ends_on, cover.renewal)
    found = _verdicts.get(key)
    if found is None:
        ratio, text = period_of(terms, cover, event_date)
        found = (ratio, text, ratio_line(text, _NO_RATIO if ratio is None else ratio))
        if ratio is None or ratio is FULL:
            if len(_verdicts) >= _CACHE_SIZE:
                _verdicts.clear()
            _verdicts[key] = found
    return found


_spans: dict[int, timedelta] = {}


def deadline_span(days: int) -> timedelta:
    """`timedelta(days=days)`, remembered: plans share a few claim deadlines."""
    span = _spans.get(days)
    if span is None:
        span = timedelta(days=days)
        if len(_spans) >= 1024:
            _spans.clear()
        _spans[days] = span
    return span


def claim_deadline(terms: PlanTerms, end_date: date) -> date:
    """The last day a claim may be filed: discharge / diagnosis plus `claim_deadline_days`."""
    return end_date + deadline_span(terms.claim_deadline_days)


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
