"""The catalogue of refusals: every problem a service answers with a `code`, named once.

A `ProblemType` is a code, the problem class that gives its status and title, and one
sentence saying what it means. Code raises `TYPE.error(detail, **extra)`, never a code typed
at the raise site; a route lists the types it can answer in `responses=` (services.kit.openapi
`problem_responses`), so the OpenAPI document gives a client every code it may meet.
tests/test_problem_catalogue.py fails on a code raised that is in no catalogue, and on a
catalogued type that no route of its service documents.

Each service has its own catalogue (members_api.problems, claims_api.problems); this module
holds the types and the ones the kit itself raises."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.kit.errors import (
    PayloadTooLarge,
    Problem,
    RuleViolation,
    UnsupportedMediaType,
    UpstreamUnavailable,
)


@dataclass(frozen=True)
class ProblemType:
    code: str
    kind: type[Problem]
    meaning: str

    @property
    def status(self) -> int:
        return self.kind.status

    @property
    def title(self) -> str:
        return self.kind.title

    def error(self, detail: str, **extra: Any) -> Problem:
        return self.kind(detail, code=self.code, **extra)

    def example(self) -> dict[str, Any]:
        """The problem as a client receives it, with `meaning` standing in for the detail."""
        return self.error(self.meaning).body()


def catalogue(*types: ProblemType) -> dict[str, ProblemType]:
    """The types by code; a code given twice is a bug."""
    by_code: dict[str, ProblemType] = {}
    for problem_type in types:
        if problem_type.code in by_code:
            raise ValueError(f"problem code {problem_type.code} is catalogued twice")
        by_code[problem_type.code] = problem_type
    return by_code


def codes(types: Iterable[ProblemType]) -> list[str]:
    return [problem_type.code for problem_type in types]


DATABASE_UNAVAILABLE = ProblemType(
    "database_unavailable",
    UpstreamUnavailable,
    "the service's database is unreachable; retry after the Retry-After seconds",
)

SHARED = catalogue(DATABASE_UNAVAILABLE)
"""Raised by the kit in either service (services.kit.db_errors)."""


# --- an uploaded list over a limit (services.kit.uploads) -------------------------------------
TOO_MANY_ROWS = ProblemType("too_many_rows", PayloadTooLarge, "the list has too many rows")
LINE_TOO_LONG = ProblemType("line_too_long", PayloadTooLarge, "a line of the CSV is too long")
TOO_MANY_ZIP_PARTS = ProblemType(
    "too_many_zip_parts", PayloadTooLarge, "the workbook has too many parts"
)
INFLATED_TOO_LARGE = ProblemType(
    "inflated_too_large", PayloadTooLarge, "the workbook inflates to too many bytes"
)
COMPRESSION_RATIO = ProblemType(
    "compression_ratio", PayloadTooLarge, "a part of the workbook inflates too many times"
)
TOO_MANY_COLUMNS = ProblemType("too_many_columns", RuleViolation, "a row has too many cells")
CELL_TOO_LONG = ProblemType("cell_too_long", RuleViolation, "a cell holds too many characters")
XML_DTD_REFUSED = ProblemType(
    "xml_dtd_refused", UnsupportedMediaType, "the workbook declares a DTD (XML entities)"
)

UPLOAD_LIMITS = (
    TOO_MANY_ROWS,
    LINE_TOO_LONG,
    TOO_MANY_ZIP_PARTS,
    INFLATED_TOO_LARGE,
    COMPRESSION_RATIO,
    TOO_MANY_COLUMNS,
    CELL_TOO_LONG,
    XML_DTD_REFUSED,
)
"""What refuses an uploaded list (services.kit.uploads): in the catalogue of each service
that takes one, documented on its upload routes."""
