"""The claims' repository: the queries that decide a payout beside the engine (the
per-member-and-plan lock, what an enrolment already used, duplicate invoices and overlapping
stays)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    String,
    any_,
    bindparam,
    delete,
    func,
    literal,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.engine import Usage
from claims_api.models import Claim, ClaimInvoice, ClaimLock

TAKEN = ("approved", "paid")
"""Statuses whose payout counts against caps."""
LIVE = ("submitted", "pending_review", "needs_info", "approved", "paid")
"""Statuses of a claim that still stands (not rejected, not withdrawn)."""


@dataclass(frozen=True)
class PriorClaims:
    """What the stored claims mean for a new assessment: the enrolment's usage, the invoices
    already held by live claims, a live stay that overlaps."""

    usage: Usage
    duplicate_invoices: list[str]
    overlapping_claim: str | None


@cache
def _prior_claims_query(check_overlap: bool, excluding: bool) -> CompoundSelect:
    """One round trip for the three look-ups (UNION ALL, each row tagged with its look-up),
    built once per variant: every claim filed runs it, and building and hashing a statement
    costs more CPU than Postgres spends answering it (README: performance). `excluding`: a
    stored claim being reassessed must not count itself."""
    taken = select(literal("taken"), Claim.id, Claim.payable, Claim.assessment).where(
        Claim.enrollment_id == bindparam("enrollment_id"),
        Claim.status.in_(TAKEN),  # type: ignore[attr-defined]
    )
    held = select(literal("invoice"), ClaimInvoice.invoice_number, null(), null()).where(
        ClaimInvoice.plan_code == bindparam("plan_code"),
        ClaimInvoice.invoice_number.in_(bindparam("invoices", expanding=True)),  # type: ignore[attr-defined]
    )
    if excluding:
        taken = taken.where(Claim.id != bindparam("excluding"))
        held = held.where(ClaimInvoice.claim_id != bindparam("excluding"))
    parts = [taken, held]
    if check_overlap:
        overlapping = select(literal("overlap"), Claim.id, null(), null()).where(
            Claim.member_id == bindparam("member_id"),
            Claim.plan_code == bindparam("plan_code"),
            Claim.status.in_(LIVE),  # type: ignore[attr-defined]
            Claim.event_on <= bindparam("end"),
            Claim.end_on >= bindparam("start"),
        )
        if excluding:
            overlapping = overlapping.where(Claim.id != bindparam("excluding"))
        parts.append(overlapping)
    return union_all(*parts)


async def prior_claims(
    session: AsyncSession,
    *,
    enrollment_id: str | None,
    member_id: str,
    plan_code: str,
    invoices: list[str],
    stay: tuple[date, date] | None,
    excluding_claim: str | None = None,
) -> PriorClaims:
    """`stay`: the (start, end) to check for overlaps; None for a fixed benefit (no stay).
    Each row: its look-up's tag, then a claim's id (an invoice number for `invoice` rows)."""
    parameters: dict[str, Any] = {
        # no enrolment (not covered): no usage; an id no claim has matches nothing
        "enrollment_id": enrollment_id or "",
        "plan_code": plan_code,
        "invoices": invoices,
        "member_id": member_id,
    }
    if stay is not None:
        parameters["start"], parameters["end"] = stay
    if excluding_claim is not None:
        parameters["excluding"] = excluding_claim
    query = _prior_claims_query(stay is not None, excluding_claim is not None)
    rows = (await _execute(session, query, parameters)).all()
    taken = [row for row in rows if row[0] == "taken"]
    groups = frozenset(row.assessment["group"] for row in taken if row.assessment.get("group"))
    usage = Usage(
        used=sum((row.payable for row in taken), Decimal("0.00")),
        claims_count=len(taken),
        groups_paid=groups,
        cover_ended=any(row.assessment.get("ends_cover") for row in taken),
    )
    overlapping = sorted(row.id for row in rows if row[0] == "overlap")
    return PriorClaims(
        usage=usage,
        duplicate_invoices=sorted({row.id for row in rows if row[0] == "invoice"}),
        overlapping_claim=overlapping[0] if overlapping else None,
    )


def _lock_statement() -> Any:
    """ON CONFLICT DO UPDATE (to the same value) locks the row whether this statement created
    it or found it: the lock in one round trip instead of an INSERT and a SELECT FOR UPDATE."""
    insert = pg_insert(ClaimLock).values(key=bindparam("key"))
    return insert.on_conflict_do_update(
        index_elements=[ClaimLock.key], set_={"key": insert.excluded.key}
    )


_LOCK = _lock_statement()
_HOLD_INVOICES = {
    dialect: insert(ClaimInvoice).on_conflict_do_nothing().returning(ClaimInvoice.invoice_number)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


async def _execute(session: AsyncSession, statement: Any, parameters: dict[str, Any]) -> Any:
    """On the session's connection (its transaction): Core statements skip the ORM's
    per-statement work."""
    return await (await session.connection()).execute(statement, parameters)


async def lock_member_plan(session: AsyncSession, member_id: str, plan_code: str) -> None:
    """Serialise every payout decision of one member under one plan until the transaction ends.

    Postgres: a row lock. SQLite: the whole database is already held by BEGIN IMMEDIATE."""
    await lock(session, f"{member_id}:{plan_code}")


async def lock(session: AsyncSession, key: str) -> None:
    """Hold `key`'s `claim_lock` row until the transaction ends (Postgres; SQLite's BEGIN
    IMMEDIATE holds the whole database already)."""
    if session.bind.dialect.name != "postgresql":
        return
    await _execute(session, _LOCK, {"key": key})


async def register_invoices(
    session: AsyncSession, claim_id: str, plan_code: str, invoices: list[str]
) -> int:
    """Hold the invoice numbers for a live claim: how many were held. The unique index turns
    away one already held (by a stored claim, or a concurrent one once it commits: Postgres
    waits for it), without an error, so that no SAVEPOINT is needed around the INSERT."""
    if not invoices:
        return 0
    rows = [{"claim_id": claim_id, "plan_code": plan_code, "invoice_number": n} for n in invoices]
    statement = _HOLD_INVOICES[session.bind.dialect.name]
    return len((await (await session.connection()).execute(statement, rows)).all())


async def release_invoices(session: AsyncSession, claim_id: str) -> None:
    await session.execute(delete(ClaimInvoice).where(ClaimInvoice.claim_id == claim_id))


# --- in bulk: a settlement import decides thousands of claims at once (claims_api.settlement) --

BULK_CHUNK = 5_000
"""Values per query: well under the drivers' parameter limits (asyncpg 32,767; SQLite 32,766)."""


def _among(column: Any, values: list[Any], dialect: str) -> Any:
    """`column IN (values)`; on Postgres `column = ANY($1)`, one array parameter (rendering and
    parsing 5,000 IN parameters costs several times more)."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[start : start + BULK_CHUNK] for start in range(0, len(values), BULK_CHUNK)]


_CUSTOM_PLANS = text(
    "SELECT current_setting('plan_cache_mode'), "
    "set_config('plan_cache_mode', 'force_custom_plan', true)"
)
_PLANS_AS_BEFORE = text("SELECT set_config('plan_cache_mode', :mode, true)")


@asynccontextmanager
async def _planned_per_chunk(session: AsyncSession) -> AsyncIterator[None]:
    """Postgres plans each chunk's query of the block with its values. From the sixth run of
    one prepared statement on it may keep a generic plan, in which `= ANY($1)` cannot hash
    the array: each row is compared with 5,000 values, measured 0.5 s a chunk against 1,000
    stored claims (a settlement file's 20 chunks: 6 s) instead of 3 ms. Planning a chunk's
    query costs about a millisecond.

    After the block, the transaction plans as before: the foreign key checks of the rows an
    import writes next (a query per claim event, webhook event and invoice number, kept
    planned) were planned again for every row, which made COPY of those tables two to three
    times slower. (An error in the block rolls the transaction back, and the setting with it.)"""
    if session.bind.dialect.name != "postgresql":
        yield
        return
    previous = (await _execute(session, _CUSTOM_PLANS, {})).scalar_one()
    yield
    await _execute(session, _PLANS_AS_BEFORE, {"mode": previous})


async def lock_members_plan(session: AsyncSession, member_ids: list[str], plan_code: str) -> None:
    """lock_member_plan for many members, in sorted order (two imports, or an import and a
    single filing, queue instead of deadlocking): one statement per BULK_CHUNK members."""
    if session.bind.dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE holds the whole database already
    keys = sorted(f"{member_id}:{plan_code}" for member_id in set(member_ids))
    for chunk in _chunks(keys):
        # ORDER BY: the rows are inserted, and so locked, in that order
        await _execute(session, _LOCK_MANY, {"keys": chunk})


def _lock_many_statement() -> Any:
    keys = select(func.unnest(bindparam("keys", type_=ARRAY(String))).label("key")).order_by(
        text("1")
    )
    insert = pg_insert(ClaimLock).from_select(["key"], keys)
    return insert.on_conflict_do_update(
        index_elements=[ClaimLock.key], set_={"key": insert.excluded.key}
    )


_LOCK_MANY = _lock_many_statement()


async def filed_numbers(
    session: AsyncSession, plan_code: str, numbers: list[str]
) -> dict[str, str]:
    """Of `numbers`, those already on a claim under the plan, with the claim: held as an
    invoice by a live claim, or the settlement number of a settlement claim (any status: a
    rejected claim holds no invoice)."""
    dialect = session.bind.dialect.name
    found: dict[str, str] = {}
    async with _planned_per_chunk(session):
        for chunk in _chunks(sorted(set(numbers))):
            held = select(ClaimInvoice.invoice_number, ClaimInvoice.claim_id).where(
                ClaimInvoice.plan_code == plan_code,
                _among(ClaimInvoice.__table__.c.invoice_number, chunk, dialect),
            )
            settled = select(Claim.settlement_number, Claim.id).where(
                Claim.plan_code == plan_code,
                _among(Claim.__table__.c.settlement_number, chunk, dialect),
            )
            for number, claim_id in (await session.execute(union_all(held, settled))).all():
                found.setdefault(number, claim_id)
    return found


async def usage_of(session: AsyncSession, enrollment_ids: list[str]) -> dict[str, Usage]:
    """prior_claims' usage for many enrolments at once: what their approved and paid claims
    took."""
    dialect = session.bind.dialect.name
    taken: dict[str, list[Any]] = {}
    async with _planned_per_chunk(session):
        for chunk in _chunks(sorted(set(enrollment_ids))):
            query = select(Claim.enrollment_id, Claim.payable, Claim.assessment).where(
                _among(Claim.__table__.c.enrollment_id, chunk, dialect),
                Claim.status.in_(TAKEN),  # type: ignore[attr-defined]
            )
            for row in (await session.execute(query)).all():
                taken.setdefault(row.enrollment_id, []).append(row)
    return {
        enrollment_id: Usage(
            used=sum((row.payable for row in rows), Decimal("0.00")),
            claims_count=len(rows),
            groups_paid=frozenset(
                row.assessment["group"] for row in rows if row.assessment.get("group")
            ),
            cover_ended=any(row.assessment.get("ends_cover") for row in rows),
        )
        for enrollment_id, rows in taken.items()
    }


async def live_stays(
    session: AsyncSession, plan_code: str, member_ids: list[str]
) -> dict[str, list[tuple[str, date, date]]]:
    """The live claims of many members under the plan, as (id, first day, last day) by member:
    what prior_claims' overlap check looks at."""
    dialect = session.bind.dialect.name
    stays: dict[str, list[tuple[str, date, date]]] = {}
    async with _planned_per_chunk(session):
        for chunk in _chunks(sorted(set(member_ids))):
            query = select(Claim.member_id, Claim.id, Claim.event_on, Claim.end_on).where(
                _among(Claim.__table__.c.member_id, chunk, dialect),
                Claim.plan_code == plan_code,
                Claim.status.in_(LIVE),  # type: ignore[attr-defined]
            )
            for row in (await session.execute(query)).all():
                stays.setdefault(row.member_id, []).append((row.id, row.event_on, row.end_on))
    return stays
