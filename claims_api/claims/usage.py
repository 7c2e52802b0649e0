"""The queries that decide a payout beside the engine: the per-member-and-plan lock, what an
enrolment already used, duplicate invoices and overlapping stays."""

from datetime import date
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.engine import Usage
from claims_api.models import Claim, ClaimInvoice, ClaimLock

TAKEN = ("approved", "paid")
"""Statuses whose payout counts against caps."""
LIVE = ("submitted", "pending_review", "needs_info", "approved", "paid")
"""Statuses of a claim that still stands (not rejected, not withdrawn)."""


async def lock_member_plan(session: AsyncSession, member_id: str, plan_code: str) -> None:
    """Serialise every payout decision of one member under one plan until the transaction ends.

    Postgres: a row lock. SQLite: the whole database is already held by BEGIN IMMEDIATE."""
    if session.bind.dialect.name != "postgresql":
        return
    key = f"{member_id}:{plan_code}"
    await session.execute(pg_insert(ClaimLock).values(key=key).on_conflict_do_nothing())
    await session.execute(select(ClaimLock.key).where(ClaimLock.key == key).with_for_update())


async def usage_of(
    session: AsyncSession, enrollment_id: str | None, *, excluding_claim: str | None = None
) -> Usage:
    if enrollment_id is None:
        return Usage()
    query = select(Claim.payable, Claim.assessment).where(
        Claim.enrollment_id == enrollment_id,
        Claim.status.in_(TAKEN),  # type: ignore[attr-defined]
    )
    if excluding_claim is not None:
        query = query.where(Claim.id != excluding_claim)
    rows = (await session.execute(query)).all()
    groups = frozenset(row.assessment["group"] for row in rows if row.assessment.get("group"))
    return Usage(
        used=sum((row.payable for row in rows), Decimal("0.00")),
        claims_count=len(rows),
        groups_paid=groups,
        cover_ended=any(row.assessment.get("ends_cover") for row in rows),
    )


async def duplicate_invoices(
    session: AsyncSession, plan_code: str, invoices: list[str], excluding_claim: str | None = None
) -> list[str]:
    if not invoices:
        return []
    query = select(ClaimInvoice.invoice_number).where(
        ClaimInvoice.plan_code == plan_code,
        ClaimInvoice.invoice_number.in_(invoices),  # type: ignore[attr-defined]
    )
    if excluding_claim is not None:
        query = query.where(ClaimInvoice.claim_id != excluding_claim)
    return sorted(set((await session.scalars(query)).all()))


async def overlapping_claim(
    session: AsyncSession,
    member_id: str,
    plan_code: str,
    start: date,
    end: date,
    excluding_claim: str | None = None,
) -> str | None:
    query = select(Claim.id).where(
        Claim.member_id == member_id,
        Claim.plan_code == plan_code,
        Claim.status.in_(LIVE),  # type: ignore[attr-defined]
        Claim.event_on <= end,
        Claim.end_on >= start,
    )
    if excluding_claim is not None:
        query = query.where(Claim.id != excluding_claim)
    return await session.scalar(query.limit(1))


async def register_invoices(
    session: AsyncSession, claim_id: str, plan_code: str, invoices: list[str]
) -> int:
    """Hold the invoice numbers for a live claim: how many were held. The unique index turns
    away one already held (by a stored claim, or a concurrent one once it commits: Postgres
    waits for it), without an error, so that no SAVEPOINT is needed around the INSERT."""
    if not invoices:
        return 0
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(ClaimInvoice)
        .values(
            [{"claim_id": claim_id, "plan_code": plan_code, "invoice_number": n} for n in invoices]
        )
        .on_conflict_do_nothing()
        .returning(ClaimInvoice.invoice_number)
    )
    return len((await session.execute(statement)).all())


async def release_invoices(session: AsyncSession, claim_id: str) -> None:
    await session.execute(delete(ClaimInvoice).where(ClaimInvoice.claim_id == claim_id))
