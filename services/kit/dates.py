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

# JSON Schema has no range for a date: the years are said as a pattern, so that a client
# generated from the OpenAPI document sends what is taken (ge/le do the checking).
SCHEME_DATE_PATTERN = r"^(19\d\d|2[01]\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"

SchemeDate = Annotated[
    date,
    Field(ge=EARLIEST, le=LATEST, json_schema_extra={"pattern": SCHEME_DATE_PATTERN}),
]
