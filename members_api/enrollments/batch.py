"""Batch enrolment (参保名单): many workers of one unit into one plan, in one request.

Set-based, so that a unit of 100,000 workers imports in one request, in the request's one
transaction:

1. refusals that would hit every row refuse the request (batch_target);
2. the members named by the rows are read at once (locked, in identity-number order), with
   their active enrolments in the plan and their earlier editions of its line (renewals);
3. the rows are checked and decided in parts of 20,000 (batch_plan: the rules of the single
   enrolment, pure Python, in a worker thread) while the previous part's new members and
   enrolments are written (COPY on Postgres, executemany elsewhere): Python and the database
   work at the same time;
4. the unit's credit for the plan (members_api.contributions.ledger; its row locked after the
   members) pays the new enrolments as they are planned, first row first: their
   contribution_paid and paid_on are written with them, their allocations by COPY too;
5. the rows' payout accounts (optional card columns) are written once the members are
   (members_api.payout_accounts.bulk);
6. one audit event records the batch (entity `enrollment_batch`: counts and row range).

Members are matched by identity number. A new one is registered to the batch's unit; a known
one stays in its unit (admin: enrolled through the batch's unit all the same; hr: another
unit's member is the row error `member_in_other_unit`) and is not changed. A member already
holding this plan's active enrolment through this unit with the row's shares is `ok` with
`already_enrolled`, so sending a batch again creates nothing twice."""

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Dialect, String, bindparam, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from members_api.audit import audit
from members_api.bulk import BulkInsert, among, chunks, dialect_of
from members_api.contributions.ledger import ALLOCATION_COLUMNS, UnitLedger
from members_api.enrollments import rules
from members_api.enrollments.batch_plan import (
    ENROLLMENT_COLUMNS,
    MEMBER_COLUMNS,
    BatchTarget,
    Holding,
    Known,
    KnownMember,
    Planned,
    Planner,
    RowChecker,
)
from members_api.enrollments.service import refuse_admin_only_fields
from members_api.models import ContributionAllocation, Enrollment, Member, Plan, Unit
from members_api.payout_accounts.bulk import BatchAccounts, any_card, stored_accounts
from members_api.plans.service import get_plan
from members_api.problems import CONCURRENT_REGISTRATION
from services.kit.auth import Principal
from services.kit.clock import now, today
from services.kit.database import UtcDateTime
from services.kit.errors import NotFound
from services.kit.identity import COMPACT_NATIONAL_ID, compact_national_id, validate_national_id
from services.kit.ids import new_id
from services.kit.plan_rules import PlanTerms

# Rows are checked and decided part by part while the previous part is written: a small
# first part, so that the database starts early, then larger ones (fewer round trips).
FIRST_PART, PART = 2_000, 20_000
RawRows = Sequence[tuple[int, Mapping[str, Any]]]
_members = Member.__table__  # type: ignore[attr-defined]
_enrollments = Enrollment.__table__  # type: ignore[attr-defined]
_plans = Plan.__table__  # type: ignore[attr-defined]
_allocations = ContributionAllocation.__table__  # type: ignore[attr-defined]
Prepared = tuple[list[Any], list[Any], list[Any], list[list[str]]]


async def batch_target(
    session: AsyncSession,
    principal: Principal,
    unit_id: str,
    plan_code: str,
    enrolled_on: date | None,
    starts_on: date | None,
) -> BatchTarget:
    """Refusals that would hit every row refuse the batch: another unit (hr) or an unknown
    one is 404, an inactive unit, a closed window or a bad start date 422 with its code."""
    refuse_admin_only_fields(principal, enrolled_on, starts_on)
    unit = await session.get(Unit, unit_id)
    if unit is None or not principal.can_see_unit(unit_id):
        raise NotFound(f"unit {unit_id} not found")
    plan = await get_plan(session, plan_code)
    terms = PlanTerms.model_validate(plan.terms)
    enrolled_on = enrolled_on or today()
    rules.raise_first(
        [
            rules.unit_inactive(unit.name, unit.active),
            rules.outside_window(terms, enrolled_on),
            rules.starts_on_refused(terms, enrolled_on, starts_on),
        ]
    )
    return BatchTarget(
        unit_id=unit.id,
        plan_code=plan.code,
        plan_line=plan.line,
        terms=terms,
        enrolled_on=enrolled_on,
        starts_on=rules.starts_on(terms, enrolled_on, starts_on),
        starts_on_set=starts_on is not None,
    )


def identity_numbers(raw_rows: RawRows) -> list[str]:
    """The rows' valid identity numbers, as members are stored under them, before the rows
    are checked (so that checking overlaps with writing). A number in the stored shape is
    taken as it is (if its check digit is wrong it just matches no one); anything else only
    if it validates: never a string the database would refuse."""
    numbers = set()
    for _, raw in raw_rows:
        value = raw.get("national_id") if isinstance(raw, Mapping) else None
        if not isinstance(value, str):
            continue
        number = compact_national_id(value)
        if COMPACT_NATIONAL_ID.fullmatch(number):
            numbers.add(number)
            continue
        with contextlib.suppress(ValueError):
            numbers.add(validate_national_id(value.strip()))
    return sorted(numbers)


async def known_members(session: AsyncSession, target: BatchTarget, numbers: list[str]) -> Known:
    """The members among `numbers`, locked in identity-number order (two batches touching
    the same members queue instead of deadlocking), their active enrolments in the plan, and
    the ends of their earlier editions of the plan's line (renewals)."""
    members: dict[str, KnownMember] = {}
    m, dialect = _members.c, await dialect_of(session)
    for chunk in chunks(numbers):
        query = (
            select(m.id, m.national_id, m.unit_id, m.status, m.left_on, m.sex, m.birth_date, m.name)
            .where(among(m.national_id, chunk, dialect))
            .order_by(m.national_id)
            .with_for_update()
        )
        for row in await session.execute(query):
            members[row.national_id] = KnownMember(
                row.id, row.unit_id, row.status, row.left_on, row.sex, row.birth_date, row.name
            )
    holdings: dict[str, list[Holding]] = defaultdict(list)
    previous_ends: dict[str, list[date]] = defaultdict(list)
    e, p = _enrollments.c, _plans.c
    for chunk in chunks([member.id for member in members.values()]):
        held = select(e.id, e.member_id, e.unit_id, e.shares, e.created_at).where(
            among(e.member_id, chunk, dialect),
            e.plan_code == target.plan_code,
            e.status == "active",
        )
        for row in await session.execute(held):
            holding = Holding(row.id, row.member_id, row.unit_id, row.shares, row.created_at)
            holdings[row.member_id].append(holding)
        earlier = (
            select(e.member_id, e.ends_on)
            .join(_plans, p.code == e.plan_code)
            .where(
                among(e.member_id, chunk, dialect),
                e.status != "cancelled",
                e.plan_code != target.plan_code,
                e.ends_on < target.starts_on,
                p.line == target.plan_line,
            )
        )
        for row in await session.execute(earlier):
            previous_ends[row.member_id].append(row.ends_on)
    return Known(members, dict(holdings), dict(previous_ends))


def _allocations_from(target: BatchTarget, at: datetime) -> Any:
    """The allocation rows of a range of the batch's enrolments paid from one payment, made
    from the enrolments just written (one INSERT ... SELECT: nothing goes through Python; an
    allocation's id is its enrolment's, under the allocation prefix)."""
    e, a = _enrollments.c, _allocations.c
    rows = select(
        literal("cal_") + func.substr(e.id, 5),
        bindparam("lot", type_=String),
        e.id,
        e.contribution_paid,
        literal(at, UtcDateTime),
    ).where(
        e.unit_id == target.unit_id,
        e.plan_code == target.plan_code,
        e.created_at == at,
        e.id.between(bindparam("first", type_=String), bindparam("last", type_=String)),
        e.contribution_paid > 0,
    )
    return insert(_allocations).from_select(
        [a.id, a.contribution_id, a.enrollment_id, a.amount, a.at], rows
    )


class _Writer:
    """Writes each part's new members and enrolments; `prepare` runs in the worker thread."""

    def __init__(self, dialect: Dialect, target: BatchTarget, at: datetime) -> None:
        self.paid_from = _allocations_from(target, at)
        self.members = BulkInsert(_members, MEMBER_COLUMNS, dialect)
        self.enrollments = BulkInsert(_enrollments, ENROLLMENT_COLUMNS, dialect)
        self.allocations = BulkInsert(_allocations, ALLOCATION_COLUMNS, dialect)

    def prepare(self, planned: Planned) -> Prepared:
        return (
            self.members.prepare(planned.new_members),
            self.enrollments.prepare(planned.new_enrollments),
            self.allocations.prepare(planned.new_allocations),
            planned.paid_from,
        )

    async def write(self, session: AsyncSession, prepared: Prepared) -> None:
        members, enrollments, allocations, paid_from = prepared
        try:
            await self.members.write(session, members)
        except IntegrityError:  # a concurrent request registered some of the same workers
            raise CONCURRENT_REGISTRATION.error(
                "some of these workers were registered by another request at the same time; "
                "send the batch again (those rows will then match the registered workers)"
            ) from None
        await self.enrollments.write(session, enrollments)
        for lot, first, last in paid_from:
            await session.execute(self.paid_from, {"lot": lot, "first": first, "last": last})
        await self.allocations.write(session, allocations)


def _parts(raw_rows: RawRows) -> list[RawRows]:
    head = [raw_rows[:FIRST_PART]] if raw_rows else []
    return head + list(chunks(raw_rows[FIRST_PART:], PART))


def _check_and_plan(
    checker: RowChecker, planner: Planner, writer: _Writer, part: RawRows
) -> Prepared:
    return writer.prepare(planner.plan(checker.check(part)))


async def enrol_batch(
    session: AsyncSession,
    principal: Principal,
    target: BatchTarget,
    raw_rows: RawRows,
    source: dict[str, Any],
) -> str:
    """Enrol every valid row and record the batch in the audit log; answers the JSON text of
    the answer (built directly: 100,000 results through a response model take seconds)."""
    numbers = await run_in_threadpool(identity_numbers, raw_rows)
    known = await known_members(session, target, numbers)
    # The unit's ledger, after the members (the order every enrolment takes the two locks
    # in): its credit pays the new enrolments, oldest (first row) first.
    ledger = await UnitLedger.lock(session, target.unit_id, target.plan_code)
    credit = await ledger.pool()
    at = ledger.at = now()
    # The payout accounts on file of the known members, if any row has a card.
    holders = [member.id for member in known.members.values()] if any_card(raw_rows) else []
    stored = await stored_accounts(session, holders)
    accounts = BatchAccounts(stored, at, principal.sub)
    checker = RowChecker()
    planner = Planner(principal, target, known, at, credit, accounts)
    writer = _Writer((await session.connection()).dialect, target, at)
    writing: asyncio.Task[None] | None = None
    try:
        for part in _parts(raw_rows):
            prepared = await run_in_threadpool(_check_and_plan, checker, planner, writer, part)
            if writing is not None:
                await writing  # the connection is free again
            writing = asyncio.create_task(writer.write(session, prepared))
        batch_id = new_id("bat")
        header = {
            "batch_id": batch_id,
            "unit_id": target.unit_id,
            "plan_code": target.plan_code,
            "enrolled_on": str(target.enrolled_on),
            "starts_on": str(target.starts_on),
        }
        totals = planner.totals()
        contributions = planner.contributions()
        payout_accounts = accounts.summary()
        answer = {
            **header,
            "totals": totals,
            "contributions": contributions,
            "payout_accounts": payout_accounts,
            "results": planner.results,
        }
        # ASCII: a row's unknown field is named in its error, and may not be valid UTF-8
        text = await run_in_threadpool(json.dumps, answer, separators=(",", ":"))
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            # Let the write finish (an interrupted COPY would leave the connection unusable);
            # the error on its way out rolls the transaction back.
            with contextlib.suppress(Exception):
                await writing
    await accounts.write(session, principal)
    ledger.credit = credit.fen
    await ledger.save()
    await audit.record(
        session,
        principal,
        action="enrollment.batch",
        entity="enrollment_batch",
        entity_id=batch_id,
        after={
            **header,
            **source,
            "starts_on_set_by_admin": target.starts_on_set,
            "row_range": [raw_rows[0][0], raw_rows[-1][0]] if raw_rows else None,
            "totals": totals,
            "contributions": contributions,
            "payout_accounts": payout_accounts,
            # Every member and enrolment the batch created has this created_at.
            "created_at": at.isoformat(),
        },
    )
    return text
