"""The batch look-up: many workers' coverage by one plan, each on its day, for the claims
service's settlement imports (免申即享). Set-based: the plan in one query, the workers and
their active enrolments in the plan in another, whatever the number of items; each answer is
members_api.coverage.service.decide's, as GET /api/v1/coverage's is, so they cannot differ."""

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Text, and_, any_, bindparam, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from members_api.coverage.schemas import (
    CoverageFound,
    CoverageLookupItem,
    CoverageLookupRead,
    CoverageNotFound,
    CoveragePlan,
    CoverageRead,
    CoveredMember,
)
from members_api.coverage.service import (
    ENROLLMENT_COLUMNS,
    MEMBER_COLUMNS,
    PLAN_COLUMNS,
    EnrollmentValues,
    covered_plan,
    decide,
    enrollments_table,
    members_table,
    plans_table,
)
from services.kit.errors import NotFound

_PLAN_QUERY = select(
    *(plans_table.c[name] for name in PLAN_COLUMNS), cast(plans_table.c.terms, Text)
).where(plans_table.c.code == bindparam("plan_code"))

_WORKER_COLUMNS = (*MEMBER_COLUMNS, "national_id", "name")
_ENROLLMENT_AT = len(_WORKER_COLUMNS)
_ID_AT = 0
_NATIONAL_ID_AT, _NAME_AT = _ENROLLMENT_AT - 2, _ENROLLMENT_AT - 1


def _workers_query(named: ColumnElement[bool]) -> Any:
    """The workers `named` (by id or by number), each with its active enrolments in the plan:
    one row per enrolment, or one with empty enrolment columns for a worker with none."""
    return (
        select(
            *(members_table.c[name] for name in _WORKER_COLUMNS),
            *(enrollments_table.c[name] for name in ENROLLMENT_COLUMNS),
        )
        .select_from(members_table)
        .outerjoin(
            enrollments_table,
            and_(
                enrollments_table.c.member_id == members_table.c.id,
                enrollments_table.c.plan_code == bindparam("plan_code"),
                enrollments_table.c.status == "active",
            ),
        )
        .where(named)
    )


_ids, _numbers = members_table.c.id, members_table.c.national_id
# Built once per dialect. On Postgres each list is one array parameter (`= ANY($1)`): 5,000
# IN parameters would be rendered and parsed each time (members_api.bulk.among, measured).
_WORKERS_ON_POSTGRES = _workers_query(
    or_(
        _ids == any_(bindparam("ids", type_=ARRAY(_ids.type))),
        _numbers == any_(bindparam("national_ids", type_=ARRAY(_numbers.type))),
    )
)
_WORKERS_ELSEWHERE = _workers_query(
    or_(
        _ids.in_(bindparam("ids", expanding=True)),
        _numbers.in_(bindparam("national_ids", expanding=True)),
    )
)


class _Worker:
    """A worker found, with its active enrolments in the plan."""

    __slots__ = ("member", "name", "national_id", "enrollments")

    def __init__(self, row: Sequence[Any]) -> None:
        self.member = CoveredMember(
            **dict(zip(MEMBER_COLUMNS, row[: len(MEMBER_COLUMNS)], strict=True))
        )
        self.name: str = row[_NAME_AT]
        self.national_id: str = row[_NATIONAL_ID_AT]
        self.enrollments: list[EnrollmentValues] = []


async def lookup(
    connection: AsyncConnection, plan_code: str, items: Sequence[CoverageLookupItem]
) -> CoverageLookupRead:
    """One answer per item, in their order: the worker's coverage on the item's day, or
    `member_not_found`. A plan that does not exist is a 404 for the whole request."""
    plan_row = (await connection.execute(_PLAN_QUERY, {"plan_code": plan_code})).first()
    if plan_row is None:
        raise NotFound(f"plan {plan_code} not found")
    plan = covered_plan(plan_row)
    ids = list({item.member_id for item in items if item.member_id is not None})
    numbers = list({item.national_id for item in items if item.national_id is not None})
    query = _WORKERS_ON_POSTGRES if connection.dialect.name == "postgresql" else _WORKERS_ELSEWHERE
    rows = await connection.execute(
        query, {"plan_code": plan_code, "ids": ids, "national_ids": numbers}
    )
    by_id: dict[str, _Worker] = {}
    for row in rows:
        worker = by_id.get(row[_ID_AT])
        if worker is None:
            worker = by_id[row[_ID_AT]] = _Worker(row)
        worker.enrollments.append(row[_ENROLLMENT_AT:])
    by_number = {worker.national_id: worker for worker in by_id.values()}
    return CoverageLookupRead.model_construct(
        plan_code=plan.code, results=_answers(plan, items, by_id, by_number)
    )


def _answers(
    plan: CoveragePlan,
    items: Sequence[CoverageLookupItem],
    by_id: dict[str, "_Worker"],
    by_number: dict[str, "_Worker"],
) -> list[CoverageFound | CoverageNotFound]:
    # The same worker asked about the same day (one stay's several settlement rows) is
    # decided once.
    decided: dict[tuple[str, date], CoverageRead] = {}
    results: list[CoverageFound | CoverageNotFound] = []
    for index, item in enumerate(items):
        worker = (
            by_id.get(item.member_id)
            if item.member_id is not None
            else by_number.get(item.national_id)  # type: ignore[arg-type]
        )
        if worker is None:
            results.append(CoverageNotFound.model_construct(index=index))
            continue
        key = (worker.member.id, item.on)
        answer = decided.get(key)
        if answer is None:
            answer = decided[key] = decide(plan, worker.member, worker.enrollments, item.on)
        results.append(
            CoverageFound.model_construct(
                index=index,
                member_name=worker.name,
                national_id=worker.national_id,
                coverage=answer,
            )
        )
    return results
