"""The scheme's calendar: dates are local to the federation (China Standard Time)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

SCHEME_TZ = ZoneInfo("Asia/Shanghai")


def today() -> date:
    return datetime.now(SCHEME_TZ).date()


def now() -> datetime:
    return datetime.now(UTC)
