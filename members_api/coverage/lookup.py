"""The batch look-up: many workers' coverage by one plan, each on its day, for the claims
service's settlement imports (免申即享). Set-based: three queries whatever the number of
items (the plan; the workers named; their active enrolments in the plan), and each answer is
members_api.coverage.service.decide's, as GET /api/v1/coverage's is, so they cannot differ.

Written for the 5,000-item call (bench/coverage_lookup.py): the statements are built once,
each (worker, day) is decided once, and the answer is serialised once, as JSON fragments
joined here rather than a model validated again: the plan, the same in every answer, is
serialised once and set into each (GET's bytes exactly), and no result model is built."""

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Text, any_, bindparam, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from members_api.coverage.schemas import CoverageLookupItem, CoveragePlan, CoveredMember
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
_ID_AT, _NATIONAL_ID_AT, _NAME_AT = 0, len(MEMBER_COLUMNS), len(MEMBER_COLUMNS) + 1
_MEMBER_ID_OF_ENROLMENT = ENROLLMENT_COLUMNS.index("member_id")


def _workers_query(named: ColumnElement[bool]) -> Any:
    return select(*(members_table.c[name] for name in _WORKER_COLUMNS)).where(named)


def _enrollments_query(of_members: ColumnElement[bool]) -> Any:
    return select(*(enrollments_table.c[name] for name in ENROLLMENT_COLUMNS)).where(
        of_members,
        enrollments_table.c.plan_code == bindparam("plan_code"),
        enrollments_table.c.status == "active",
    )


# The workers and their enrolments in two statements rather than one join: without fresh
# statistics (right after a large import) Postgres hashed every enrolment of the plan for the
# join, 3-5 times slower than the two (measured on 100,000 workers).
_ids, _numbers = members_table.c.id, members_table.c.national_id
_holders = enrollments_table.c.member_id
# Built once per dialect. On Postgres each list is one array parameter (`= ANY($1)`): 5,000
# IN parameters would be rendered and parsed each time (members_api.bulk.among, measured).
_POSTGRES = (
    _workers_query(
        or_(
            _ids == any_(bindparam("ids", type_=ARRAY(_ids.type))),
            _numbers == any_(bindparam("national_ids", type_=ARRAY(_numbers.type))),
        )
    ),
    _enrollments_query(_holders == any_(bindparam("member_ids", type_=ARRAY(_holders.type)))),
)
_ELSEWHERE = (
    _workers_query(
        or_(
            _ids.in_(bindparam("ids", expanding=True)),
            _numbers.in_(bindparam("national_ids", expanding=True)),
        )
    ),
    _enrollments_query(_holders.in_(bindparam("member_ids", expanding=True))),
)


class _Worker:
    """A worker found, with its active enrolments in the plan."""

    __slots__ = ("member", "national_id", "fields", "enrollments")

    def __init__(self, row: Sequence[Any]) -> None:
        self.member = CoveredMember(**dict(zip(MEMBER_COLUMNS, row[:_NATIONAL_ID_AT], strict=True)))
        self.national_id: str = row[_NATIONAL_ID_AT]
        # the result's own fields, ready to be joined into its JSON
        self.fields = (
            f'"member_name":{_string(row[_NAME_AT])},"national_id":{_string(self.national_id)}'
        )
        self.enrollments: list[EnrollmentValues] = []


async def lookup(
    connection: AsyncConnection, plan_code: str, items: Sequence[CoverageLookupItem]
) -> bytes:
    """The JSON answer (CoverageLookupRead): the plan as it was read, and one result per item,
    in their order, the worker's coverage on the item's day or `member_not_found`. A plan that
    does not exist is a 404 for the whole request; no items asks for the plan alone."""
    plan_row = (await connection.execute(_PLAN_QUERY, {"plan_code": plan_code})).first()
    if plan_row is None:
        raise NotFound(f"plan {plan_code} not found")
    plan = covered_plan(plan_row)
    workers_query, enrollments_query = (
        _POSTGRES if connection.dialect.name == "postgresql" else _ELSEWHERE
    )
    ids = list({item.member_id for item in items if item.member_id is not None})
    numbers = list({item.national_id for item in items if item.national_id is not None})
    rows = await connection.execute(workers_query, {"ids": ids, "national_ids": numbers})
    by_id = {row[_ID_AT]: _Worker(row) for row in rows}
    if by_id:
        enrolments = await connection.execute(
            enrollments_query, {"plan_code": plan_code, "member_ids": list(by_id)}
        )
        for enrolment in enrolments:
            by_id[enrolment[_MEMBER_ID_OF_ENROLMENT]].enrollments.append(enrolment)
    by_number = {worker.national_id: worker for worker in by_id.values()}
    results = _results(plan, items, by_id, by_number)
    plan_json = plan.model_dump_json()
    return (
        f'{{"plan_code":{_string(plan.code)},"plan":{plan_json},"results":[{",".join(results)}]}}'
    ).encode()


def _results(
    plan: CoveragePlan,
    items: Sequence[CoverageLookupItem],
    by_id: dict[str, _Worker],
    by_number: dict[str, _Worker],
) -> list[str]:
    """Each item's result as JSON text."""
    # GET /api/v1/coverage's bytes are the answer's fields in order, the plan fourth: each
    # answer is serialised without it, and the plan, serialised once, set in before
    # "enrollment" (the member before it holds ids, a status and a date: no such key).
    with_plan = f',"plan":{plan.model_dump_json()},"enrollment":'
    # The same worker asked about the same day (one stay's several settlement rows) is
    # decided and serialised once.
    decided: dict[tuple[str, date], str] = {}
    results: list[str] = []
    for index, item in enumerate(items):
        worker = (
            by_id.get(item.member_id)
            if item.member_id is not None
            else by_number.get(item.national_id)  # type: ignore[arg-type]
        )
        if worker is None:
            results.append(f'{{"index":{index},"found":false,"reason":"member_not_found"}}')
            continue
        key = (worker.member.id, item.on)
        coverage = decided.get(key)
        if coverage is None:
            answer = decide(plan, worker.member, worker.enrollments, item.on)
            without_plan = answer.model_dump_json(exclude=_PLAN)
            coverage = decided[key] = without_plan.replace(',"enrollment":', with_plan, 1)
        results.append(f'{{"index":{index},"found":true,{worker.fields},"coverage":{coverage}}}')
    return results


_PLAN = {"plan"}


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
