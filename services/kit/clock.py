"""The scheme's calendar: dates are local to the federation (China Standard Time).

Every "today" and "now" in the services and in the tests comes from here. The clock can be
pinned to one instant, for the tests that must hold at awkward hours (23:59 and 00:01 in
Shanghai, New Year's Eve, 29 February): in-process with `pin()`, or for a whole run and every
process it starts with the environment variable `MUTUALAID_CLOCK_PINNED_AT` (an ISO 8601
instant with its offset). A pinned clock does not move; production refuses to start with one.
"""

import os
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

SCHEME_TZ = ZoneInfo("Asia/Shanghai")
PIN_VARIABLE = "MUTUALAID_CLOCK_PINNED_AT"


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant that says its offset (`2027-01-01T00:01:00+08:00`), in UTC."""
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset: an instant must say which one")
    return instant.astimezone(UTC)


def _pinned_by_environment() -> datetime | None:
    """The instant the environment pins the clock at. A value that is not one stops the
    process with one line naming the variable (every service, command and test run imports
    this module first: a traceback from the import would bury what is wrong)."""
    text = os.environ.get(PIN_VARIABLE, "").strip()
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise SystemExit(
            f"{PIN_VARIABLE}={text!r} is not an instant ({exc}); set it like "
            "2027-01-01T00:01:00+08:00, or unset it for the real clock"
        ) from None


_pinned: datetime | None = _pinned_by_environment()


def pin(instant: datetime | None) -> None:
    """Stop the clock at `instant` (timezone-aware), or let it run again with None."""
    global _pinned
    if instant is not None and instant.tzinfo is None:
        raise ValueError("a pinned instant must be timezone-aware")
    _pinned = None if instant is None else instant.astimezone(UTC)


def pinned() -> datetime | None:
    return _pinned


def now() -> datetime:
    """The current instant, in UTC."""
    return _pinned if _pinned is not None else datetime.now(UTC)


def wall_now() -> datetime:
    """The host's real instant, never pinned: for what is measured against other machines'
    clocks or in elapsed seconds rather than on the federation's calendar (a webhook's
    signature timestamp, which the receiver checks against its own clock; its retry
    schedule). In production it is `now()`; a test run's pinned clock would never let a
    retry fall due."""
    return datetime.now(UTC)


def today() -> date:
    """The federation's calendar day now."""
    return now().astimezone(SCHEME_TZ).date()


def local_date(instant: datetime) -> date:
    """The federation's calendar day of an instant (a stored `*_at`)."""
    if instant.tzinfo is None:  # SQLite hands back naive UTC
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(SCHEME_TZ).date()
