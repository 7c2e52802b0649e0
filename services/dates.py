"""The dates the scheme takes: a range its arithmetic can hold.

A claim's deadline is its discharge plus up to 36,500 days, a cover's end its start plus a
term: near year 9999 Python's `date` overflows. Every date a client sends (facts, plan terms,
enrolments, leaving, payments, query filters) is this type, so an absurd one is a 422 that
names its field instead of a 500.
"""

from datetime import date
from typing import Annotated

from pydantic import Field

EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)

SchemeDate = Annotated[
    date,
    Field(
        ge=EARLIEST,
        le=LATEST,
        json_schema_extra={"formatMinimum": str(EARLIEST), "formatMaximum": str(LATEST)},
    ),
]
