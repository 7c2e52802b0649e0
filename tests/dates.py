"""The calendar every test takes its days from: the service's clock (services.kit.clock), never
the host's date. The suite freezes that clock once, at its start (tests/conftest.py), so a run
that crosses midnight in Shanghai sees one day throughout; CI also runs the date-sensitive
tests with the clock pinned to awkward instants (scripts/test.sh).

Test plans cover a "cover year" that started ten months ago, so that every day the tests file
claims on is in the past (an event after the day of filing is refused) and the enrolment
window is open today, whatever the day: 1 January, 29 February or 31 December.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from services.kit import clock

TODAY = clock.today()
COVER_START = TODAY - timedelta(days=300)
COVER_END = COVER_START + timedelta(days=364)
NEXT_COVER_START = COVER_END + timedelta(days=1)
YEAR = COVER_START.year  # for plan codes only

_NON_LEAP_JAN_1 = date(2001, 1, 1)


def day(month: int, day_of_month: int) -> date:
    """The cover year's day that stands where `month`/`day_of_month` stands in a calendar
    year starting on `COVER_START` (day(1, 1) is the cover's first day, day(3, 2) its 61st)."""
    return COVER_START + (date(2001, month, day_of_month) - _NON_LEAP_JAN_1)


def cover_window(**overrides: object) -> dict[str, object]:
    """A plan's cover and enrolment dates: the cover year, enrolment open for 30 days either
    side of today."""
    return {
        "coverage_start": str(COVER_START),
        "coverage_end": str(COVER_END),
        "enrol_from": str(TODAY - timedelta(days=30)),
        "enrol_until": str(TODAY + timedelta(days=30)),
        **overrides,
    }


@contextmanager
def clock_at(instant: datetime | None) -> Iterator[None]:
    """The services' clock stopped at `instant` (in this process; None: the real clock) for
    the block, then back to the suite's frozen instant."""
    before = clock.pinned()
    clock.pin(instant)
    try:
        yield
    finally:
        clock.pin(before)


def days_ago(days: int) -> datetime:
    """The suite's instant moved back `days` days (for what must have happened earlier)."""
    return clock.now() - timedelta(days=days)
