"""Leaving in bulk (离职名单): workers found by identity number set to `left` on a date.

Set-based like the batch enrolment: the rows are checked in Python with the leaving rule of
the single PATCH (members.service.left_on_problem), the members are read and locked in chunks
of 5,000, and changed with one executemany per chunk. Each member changed gets its own audit
event (`member.update`, before and after, as a PATCH would), so its history stays complete.
Cover ends with the leaving date: coverage answers `member_left` for any later day."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.audit import audit
from members_api.bulk import (
    Duplicates,
    RowErrors,
    among,
    check_row,
    chunks,
    dialect_of,
    row_error,
)
from members_api.members.schemas import MemberLeavingRow, NationalId
from members_api.members.service import left_on_problem
from members_api.models import Member
from services.kit.auth import Principal, Role
from services.kit.clock import now, today
from services.kit.dates import SchemeDate

_PARTIAL = {"national_id": TypeAdapter(NationalId), "left_on": TypeAdapter(SchemeDate)}
_members = Member.__table__  # type: ignore[attr-defined]


@dataclass
class LeavingRow:
    row: int
    national_id: str | None
    left_on: date | None
    errors: RowErrors = field(default_factory=list)


@dataclass(frozen=True)
class Leaver:
    id: str
    unit_id: str
    status: str
    left_on: date | None
    birth_date: date


def check_rows(raw_rows: Iterable[tuple[int, Mapping[str, Any]]]) -> list[LeavingRow]:
    rows = []
    for number, raw in raw_rows:
        valid, good, errors = check_row(MemberLeavingRow, raw, _PARTIAL)
        if valid is not None:
            rows.append(LeavingRow(number, valid.national_id, valid.left_on))
        else:
            rows.append(LeavingRow(number, good.get("national_id"), good.get("left_on"), errors))
    duplicates = Duplicates()
    for row in rows:
        if (error := duplicates.error(row.row, row.national_id)) is not None:
            row.errors.insert(0, error)
            row.national_id = None  # reported; the first row with the number decides
    return rows


async def _leavers(session: AsyncSession, numbers: list[str]) -> dict[str, Leaver]:
    found: dict[str, Leaver] = {}
    m, dialect = _members.c, await dialect_of(session)
    for chunk in chunks(sorted(numbers)):
        query = (
            select(m.id, m.national_id, m.unit_id, m.status, m.left_on, m.birth_date)
            .where(among(m.national_id, chunk, dialect))
            .order_by(m.national_id)
            .with_for_update()
        )
        for row in await session.execute(query):
            found[row.national_id] = Leaver(
                row.id, row.unit_id, row.status, row.left_on, row.birth_date
            )
    return found


async def members_leave(session: AsyncSession, principal: Principal, rows: list[LeavingRow]) -> str:
    """Answers the JSON text of the answer: one result per row, and totals."""
    numbers = [row.national_id for row in rows if row.national_id is not None]
    known = await _leavers(session, numbers)
    on = today()
    results: list[dict[str, Any]] = []
    changes: list[tuple[Leaver, date]] = []
    already = 0
    for row in rows:
        leaver = known.get(row.national_id) if row.national_id else None
        if leaver is not None and not _may_change(principal, leaver):
            leaver = None
        errors = [*row.errors, *_refusals(row, leaver, on)]
        if errors or leaver is None or row.left_on is None:
            results.append({"row": row.row, "status": "error", "errors": errors})
            continue
        unchanged = leaver.status == "left" and leaver.left_on == row.left_on
        already += unchanged
        if not unchanged:
            changes.append((leaver, row.left_on))
        results.append(
            {
                "row": row.row,
                "status": "ok",
                "member_id": leaver.id,
                "left_on": str(row.left_on),
                "already_left": unchanged,
            }
        )
    await _record_leaving(session, principal, changes)
    ok = sum(1 for result in results if result["status"] == "ok")
    totals = {
        "rows": len(rows),
        "ok": ok,
        "failed": len(rows) - ok,
        "left": len(changes),
        "already_left": already,
    }
    return json.dumps({"totals": totals, "results": results}, separators=(",", ":"))


def _refusals(row: LeavingRow, leaver: Leaver | None, on: date) -> RowErrors:
    if row.national_id is None:
        return []  # its own error is reported already
    if leaver is None:
        return [row_error("national_id", "no such worker", "not_found")]
    if row.left_on is not None:
        problem = left_on_problem(row.left_on, leaver.birth_date, on)
        if problem is not None:
            return [row_error("left_on", problem)]
    return []


def _may_change(principal: Principal, leaver: Leaver) -> bool:
    """hr: its own unit's workers; another unit's worker is `not_found`, as a GET is 404."""
    return principal.role == Role.admin or leaver.unit_id == principal.unit_id


async def _record_leaving(
    session: AsyncSession,
    principal: Principal,
    changes: list[tuple[Leaver, date]],
) -> None:
    at = now()
    statement = (
        update(_members)
        .where(_members.c.id == bindparam("member_id"))
        .values(status="left", left_on=bindparam("new_left_on"), updated_at=at)
    )
    for chunk in chunks(changes):
        params = [{"member_id": leaver.id, "new_left_on": left_on} for leaver, left_on in chunk]
        await session.execute(statement, params)
    await audit.record_many(
        session,
        principal,
        action="member.update",
        entity="member",
        changes=[
            (
                leaver.id,
                {"status": leaver.status, "left_on": leaver.left_on},
                {"status": "left", "left_on": left_on},
            )
            for leaver, left_on in changes
        ],
    )
