"""When a failed delivery is tried again, and when it is given up: pure, no clock, no I/O."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPlan:
    """`next_attempt_at` None: given up (the delivery is failed)."""

    next_attempt_at: datetime | None


def after_failure(
    *,
    attempts: int,
    created_at: datetime,
    failed_at: datetime,
    delays_seconds: Sequence[float],
    give_up_after_seconds: float,
) -> RetryPlan:
    """`attempts`: made so far, the failed one included. The n-th retry waits the n-th delay
    (the last one again past the list's end); the last attempt is made at the give-up instant
    itself, so a receiver back just before it still gets the event."""
    give_up_at = created_at + timedelta(seconds=give_up_after_seconds)
    if failed_at >= give_up_at:
        return RetryPlan(None)
    delay = delays_seconds[min(attempts, len(delays_seconds)) - 1] if delays_seconds else 0.0
    return RetryPlan(min(failed_at + timedelta(seconds=delay), give_up_at))


def failing_too_long(
    failing_since: datetime | None, now: datetime, disable_after_seconds: float
) -> bool:
    """A subscription whose deliveries have failed, with no success since, for that long."""
    return failing_since is not None and now - failing_since >= timedelta(
        seconds=disable_after_seconds
    )


def streak_gap_seconds(
    delays_seconds: Sequence[float], attempt_timeout_seconds: float, poll_seconds: float
) -> float:
    """The longest a failing subscription goes between two failures: a pending delivery is
    tried again within the longest retry delay (and an attempt's time, and a poll). A longer
    quiet means nothing was failing: its deliveries were given up or delivered."""
    longest = max(delays_seconds, default=0.0)
    return longest + 2 * attempt_timeout_seconds + 2 * poll_seconds


def streak_start(
    failing_since: datetime | None,
    last_failure_at: datetime | None,
    failed_at: datetime,
    gap_seconds: float,
) -> datetime:
    """When the failing streak that `failed_at` belongs to began: the current one's start, or
    `failed_at` itself when there is none or the previous failure was longer ago than the gap
    (failures must be continuous for the disable window)."""
    if failing_since is None or last_failure_at is None:
        return failed_at
    if failed_at - last_failure_at > timedelta(seconds=gap_seconds):
        return failed_at
    return failing_since
