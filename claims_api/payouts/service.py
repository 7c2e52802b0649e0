"""Payment batches and the ledger. A payout is never edited: a bounced payment is a new
negative entry, and its claim goes back to `approved`. Whoever approved a claim cannot pay it."""

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.audit import audit
from claims_api.claims.service import add_event
from claims_api.models import Claim, PayoutBatch, PayoutEntry
from claims_api.payouts.schemas import (
    PayoutBatchRead,
    PayoutCreate,
    PayoutEntryRead,
    ReversalCreate,
)
from claims_api.problems import ALREADY_REVERSED, NOT_APPROVED, NOT_IN_BATCH, SEPARATION_OF_DUTIES
from services.kit.auth import Principal, same_person
from services.kit.clock import local_date, now, today
from services.kit.errors import InvalidInput, NotFound
from services.kit.ids import new_id
from services.kit.pagination import PageParams


async def pay(session: AsyncSession, principal: Principal, body: PayoutCreate) -> PayoutBatchRead:
    if len(set(body.claim_ids)) != len(body.claim_ids):
        raise InvalidInput(["claim_ids"], "a claim is listed twice")
    if body.paid_on > today():
        raise InvalidInput(["paid_on"], "a payment cannot be dated in the future")
    query = select(Claim).where(Claim.id.in_(body.claim_ids)).order_by(Claim.id)  # type: ignore[attr-defined]
    claims = {claim.id: claim for claim in await session.scalars(query.with_for_update())}
    for index, claim_id in enumerate(body.claim_ids):
        claim = claims.get(claim_id)
        where = ["claim_ids", index]
        if claim is None:
            raise NotFound(f"claim {claim_id} not found")
        if claim.status != "approved":
            raise NOT_APPROVED.error(
                f"{'.'.join(map(str, where))}: claim {claim_id} is {claim.status}, not approved",
                claim_id=claim_id,
            )
        if same_person(claim.approved_by, principal.sub):
            raise SEPARATION_OF_DUTIES.error(
                f"claim {claim_id} was approved by you: another person must pay it",
                claim_id=claim_id,
            )
        approved_on = local_date(claim.approved_at) if claim.approved_at else None
        if approved_on is not None and body.paid_on < approved_on:
            raise InvalidInput(
                ["paid_on"],
                f"claim {claim_id} was approved on {approved_on}: "
                f"a payment cannot be dated {body.paid_on}, before its approval",
            )
    await _refuse_payment_before_its_reversal(session, body)
    at = now()
    batch = PayoutBatch(
        id=new_id("pay"),
        paid_on=body.paid_on,
        reference=body.reference,
        created_by=principal.sub,
        created_at=at,
    )
    session.add(batch)
    await session.flush()
    for claim_id in body.claim_ids:
        claim = claims[claim_id]
        session.add(_entry(batch, claim, "payment", claim.payable, body.paid_on, principal))
        add_event(session, claim, principal, "paid", f"batch {batch.id} {body.reference}")
        claim.paid_on = body.paid_on
    await session.flush()
    read = await read_batch(session, batch)
    await audit.record(
        session,
        principal,
        action="payout.create",
        entity="payout_batch",
        entity_id=batch.id,
        after={"claims": body.claim_ids, "total": str(read.total)},
    )
    return read


async def _refuse_payment_before_its_reversal(session: AsyncSession, body: PayoutCreate) -> None:
    """A claim paid again after a bounced payment: the new payment is dated on or after the
    reversal, or the ledger would show the money leaving before it came back."""
    query = (
        select(PayoutEntry.claim_id, func.max(PayoutEntry.paid_on))
        .where(PayoutEntry.claim_id.in_(body.claim_ids), PayoutEntry.entry_kind == "reversal")  # type: ignore[attr-defined]
        .group_by(PayoutEntry.claim_id)
    )
    reversed_on = {claim_id: last for claim_id, last in await session.execute(query)}
    for claim_id in body.claim_ids:
        last = reversed_on.get(claim_id)
        if last is not None and body.paid_on < last:
            raise InvalidInput(
                ["paid_on"],
                f"claim {claim_id}'s previous payment was reversed on {last}: "
                f"a new payment cannot be dated {body.paid_on}, before that",
            )


def _entry(
    batch: PayoutBatch,
    claim: Claim,
    kind: str,
    amount: Decimal,
    on: date,
    principal: Principal,
    reverses: str | None = None,
    reason: str | None = None,
) -> PayoutEntry:
    return PayoutEntry(
        id=new_id("ple"),
        batch_id=batch.id,
        claim_id=claim.id,
        entry_kind=kind,
        amount=amount,
        reverses_entry_id=reverses,
        reason=reason,
        plan_code=claim.plan_code,
        unit_id=claim.unit_id,
        member_id=claim.member_id,
        paid_on=on,
        created_by=principal.sub,
        created_at=now(),
    )


async def reverse(
    session: AsyncSession,
    principal: Principal,
    batch_id: str,
    body: ReversalCreate,
) -> PayoutBatchRead:
    # The batch's row is locked first: a concurrent reversal of the same batch waits, then
    # sees this one's entries and finds nothing left to reverse.
    batch = await get_batch(session, principal, batch_id, for_update=True)
    entries = list(
        await session.scalars(
            select(PayoutEntry).where(PayoutEntry.batch_id == batch_id).order_by(PayoutEntry.id)
        )
    )
    reversed_ids = {e.reverses_entry_id for e in entries if e.reverses_entry_id}
    standing = {
        e.claim_id: e for e in entries if e.entry_kind == "payment" and e.id not in reversed_ids
    }
    wanted = body.claim_ids or sorted(standing)
    if not wanted:
        raise ALREADY_REVERSED.error("every payment of this batch is already reversed")
    on = body.reversed_on or today()
    if on > today():
        raise InvalidInput(["reversed_on"], "a reversal cannot be dated in the future")
    if on < batch.paid_on:
        raise InvalidInput(
            ["reversed_on"],
            f"the batch was paid on {batch.paid_on}: a reversal cannot be dated {on}, before it",
        )
    for index, claim_id in enumerate(wanted):
        payment = standing.get(claim_id)
        if payment is None:
            raise NOT_IN_BATCH.error(
                f"claim_ids.{index}: claim {claim_id} has no standing payment in batch {batch_id}",
                claim_id=claim_id,
            )
        claim = await session.scalar(select(Claim).where(Claim.id == claim_id).with_for_update())
        assert claim is not None  # the ledger refers to it
        session.add(
            _entry(
                batch, claim, "reversal", -payment.amount, on, principal, payment.id, body.reason
            )
        )
        add_event(session, claim, principal, "approved", f"payment reversed: {body.reason}")
        claim.paid_on = None
    await session.flush()
    read = await read_batch(session, batch)
    await audit.record(
        session,
        principal,
        action="payout.reverse",
        entity="payout_batch",
        entity_id=batch.id,
        after={"reason": body.reason, "total": str(read.total)},
    )
    return read


async def get_batch(
    session: AsyncSession, principal: Principal, batch_id: str, *, for_update: bool = False
) -> PayoutBatch:
    batch = await session.get(PayoutBatch, batch_id, with_for_update=for_update)
    if batch is None:
        raise NotFound(f"payout batch {batch_id} not found")
    return batch


async def read_batch(session: AsyncSession, batch: PayoutBatch) -> PayoutBatchRead:
    entries = list(
        await session.scalars(
            select(PayoutEntry).where(PayoutEntry.batch_id == batch.id).order_by(PayoutEntry.id)
        )
    )
    return PayoutBatchRead(
        id=batch.id,
        paid_on=batch.paid_on,
        reference=batch.reference,
        created_by=batch.created_by,
        created_at=batch.created_at,
        total=sum((e.amount for e in entries), Decimal("0.00")),
        claims=len({e.claim_id for e in entries}),
        entries=[PayoutEntryRead.model_validate(e) for e in entries],
    )


async def ledger(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    plan_code: str | None,
    unit_id: str | None,
    paid_from: date | None,
    paid_to: date | None,
) -> list[PayoutEntry]:
    query = select(PayoutEntry).order_by(PayoutEntry.id).limit(page.limit + 1)
    if plan_code:
        query = query.where(PayoutEntry.plan_code == plan_code)
    if unit_id:
        query = query.where(PayoutEntry.unit_id == unit_id)
    if paid_from:
        query = query.where(PayoutEntry.paid_on >= paid_from)
    if paid_to:
        query = query.where(PayoutEntry.paid_on <= paid_to)
    if page.after_id:
        query = query.where(PayoutEntry.id > page.after_id)
    return list(await session.scalars(query))
