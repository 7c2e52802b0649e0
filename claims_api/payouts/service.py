"""Payment batches and the ledger. A payout is never edited: a bounced payment is a new
negative entry, and its claim goes back to `approved`. Whoever approved a claim cannot pay it.

A batch reads its members' payout accounts from the registry at once and records on each
payment the account it went to, its line in the bank file (claims_api.payouts.bank_file) and
the bank's answer, `sent` until the result file (claims_api.payouts.bank_result) or a reversal
says `settled` or `returned`."""

from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from claims_api.audit import audit
from claims_api.claims.service import add_event, event_values
from claims_api.members_client import MembersClient, PayoutAccount
from claims_api.models import Claim, ClaimEvent, PayoutBatch, PayoutEntry, WebhookEvent
from claims_api.payouts.schemas import (
    PayoutBatchRead,
    PayoutBatchSummary,
    PayoutCreate,
    PayoutEntryRead,
    ReversalCreate,
)
from claims_api.problems import (
    ALREADY_REVERSED,
    NO_PAYOUT_ACCOUNT,
    NOT_APPROVED,
    NOT_IN_BATCH,
    SEPARATION_OF_DUTIES,
)
from claims_api.webhooks.outbox import event_row, new_event_ids, payment_of
from services.kit.auth import Principal, same_person
from services.kit.clock import local_date, now, today
from services.kit.errors import InvalidInput, NotFound
from services.kit.ids import new_id, new_ids
from services.kit.middleware import current_request_id
from services.kit.pagination import PageParams


async def pay(
    session: AsyncSession, client: MembersClient, principal: Principal, body: PayoutCreate
) -> PayoutBatchRead:
    if len(set(body.claim_ids)) != len(body.claim_ids):
        raise InvalidInput(["claim_ids"], "a claim is listed twice")
    if body.paid_on > today():
        raise InvalidInput(["paid_on"], "a payment cannot be dated in the future")
    # Who is paid first, without a lock (a claim's member never changes), then their accounts
    # from the registry, in one call per 5,000 members: no row is locked across that call (on
    # SQLite the first statement takes the database's write lock, as in every request that
    # writes there; Postgres locks the claims only below).
    members = await _members_of(session, body.claim_ids)
    accounts = await client.payout_accounts(
        sorted(set(members.values())),
        authorization=f"Bearer {principal.bearer_token}",
        request_id=current_request_id(),
    )
    _refuse_members_without_account(body.claim_ids, members, accounts)
    claims = await _locked_claims(session, body.claim_ids)
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
    await _write_payments(session, principal, batch, [claims[c] for c in body.claim_ids], accounts)
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


async def _write_payments(
    session: AsyncSession,
    principal: Principal,
    batch: PayoutBatch,
    claims: list[Any],
    accounts: dict[str, PayoutAccount],
) -> None:
    """One payment entry a claim, in the batch's order (its bank_line), its `paid` event, its
    claim.paid webhook event and the claim paid: four statements of many rows each
    (executemany), not ORM objects (a batch of 10,000 spent 5 s building them)."""
    at, reason = now(), f"batch {batch.id} {batch.reference}"
    ids = new_ids("ple", len(claims))
    notice_ids = new_event_ids(len(claims))
    entries, events, notices = [], [], []
    for line, (entry_id, claim) in enumerate(zip(ids, claims, strict=True), start=1):
        account = accounts[claim.member_id]
        entries.append(
            {
                **_PAYMENT_DEFAULTS,
                "id": entry_id,
                "batch_id": batch.id,
                "claim_id": claim.id,
                "amount": claim.payable,
                "plan_code": claim.plan_code,
                "unit_id": claim.unit_id,
                "member_id": claim.member_id,
                "paid_on": batch.paid_on,
                "created_by": principal.sub,
                "created_at": at,
                "bank_line": line,
                "account_name": account.account_name,
                "account_number": account.account_number,
                "bank_name": account.bank_name,
                "bank_branch": account.bank_branch,
            }
        )
        events.append(event_values(claim.id, principal, claim.status, "paid", reason, None, at))
        notices.append(
            event_row(
                claim,
                status="paid",
                previous_status=claim.status,
                at=at,
                payment=payment_of(entries[-1]),
                event_id=notice_ids[line - 1],
            )
        )
    for chunk in chunks(entries):
        await session.execute(insert(PayoutEntry.__table__), chunk)
    for chunk in chunks(events):
        await session.execute(insert(ClaimEvent.__table__), chunk)
    for chunk in chunks(notices):
        await session.execute(insert(WebhookEvent.__table__), chunk)
    claim_table = Claim.__table__
    paid = (
        update(claim_table)
        .where(claim_table.c.id == bindparam("paying_id"))
        .values(status="paid", paid_on=batch.paid_on, updated_at=at)
    )
    for chunk in chunks([{"paying_id": claim.id} for claim in claims]):
        await session.execute(paid, chunk)


_PAYMENT_DEFAULTS = {
    "entry_kind": "payment",
    "reverses_entry_id": None,
    "reason": None,
    "bank_status": "sent",
    "bank_reason": None,
    "bank_status_at": None,
}


def chunks(rows: list[dict[str, object]], size: int = 5_000) -> list[list[dict[str, object]]]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


async def _members_of(session: AsyncSession, claim_ids: list[str]) -> dict[str, str]:
    """Each listed claim's member; an unknown claim is 404."""
    query = select(Claim.id, Claim.member_id).where(Claim.id.in_(claim_ids))  # type: ignore[attr-defined]
    members = {claim_id: member_id for claim_id, member_id in await session.execute(query)}
    for claim_id in claim_ids:
        if claim_id not in members:
            raise NotFound(f"claim {claim_id} not found")
    return members


def _refuse_members_without_account(
    claim_ids: list[str], members: dict[str, str], accounts: dict[str, PayoutAccount]
) -> None:
    """The whole batch is refused, naming every claim whose member has no payout account."""
    without = [claim_id for claim_id in claim_ids if members[claim_id] not in accounts]
    if not without:
        return
    named = ", ".join(f"{claim_id} (member {members[claim_id]})" for claim_id in without[:10])
    more = f" and {len(without) - 10} more" if len(without) > 10 else ""
    raise NO_PAYOUT_ACCOUNT.error(
        f"{len(without)} claim(s) of the batch are for members without a payout account: "
        f"{named}{more}; set their accounts (PUT /api/v1/members/{{id}}/payout-account) or "
        "leave the claims out",
        claim_ids=without,
        member_ids=sorted({members[claim_id] for claim_id in without}),
    )


async def _locked_claims(session: AsyncSession, claim_ids: list[str]) -> dict[str, Any]:
    """The claims, locked for the payment: only what paying reads (not their facts, assessment
    and snapshots, whose JSON a batch of 10,000 would parse), as rows."""
    query = (
        select(*_PAYING_COLUMNS)
        .where(Claim.id.in_(claim_ids))  # type: ignore[attr-defined]
        .order_by(Claim.id)
        .with_for_update()
    )
    return {claim.id: claim for claim in await session.execute(query)}


_PAYING_COLUMNS = (
    Claim.id,
    Claim.member_id,
    Claim.unit_id,
    Claim.plan_code,
    Claim.status,
    Claim.payable,
    Claim.approved_by,
    Claim.approved_at,
    # for the claim.paid webhook event's payload (claims_api.webhooks.outbox)
    Claim.event_on,
    Claim.filed_on,
    Claim.source,
    Claim.reason_codes,
)


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


def reversal_of(
    payment: PayoutEntry,
    batch: PayoutBatch,
    claim: Claim,
    on: date,
    principal: Principal,
    reason: str,
) -> PayoutEntry:
    """The negative entry that reverses `payment`, from the account it went to."""
    entry = _entry(batch, claim, "reversal", -payment.amount, on, principal, payment.id, reason)
    entry.account_name, entry.account_number = payment.account_name, payment.account_number
    entry.bank_name, entry.bank_branch = payment.bank_name, payment.bank_branch
    return entry


def mark_returned(payment: PayoutEntry, reason: str) -> None:
    payment.bank_status, payment.bank_reason, payment.bank_status_at = "returned", reason, now()


async def settle(session: AsyncSession, payments: list[PayoutEntry]) -> None:
    """The bank paid these: `settled`, in one UPDATE a 5,000 (not an ORM flush of one UPDATE
    a row); the loaded entries show it without being read again."""
    at, table = now(), PayoutEntry.__table__
    ids = [payment.id for payment in payments]
    for start in range(0, len(ids), 5_000):
        settled = (
            update(table)
            .where(table.c.id.in_(ids[start : start + 5_000]), table.c.bank_status == "sent")
            .values(bank_status="settled", bank_status_at=at)
        )
        await session.execute(settled)
    for payment in payments:
        set_committed_value(payment, "bank_status", "settled")
        set_committed_value(payment, "bank_status_at", at)


async def reverse(
    session: AsyncSession,
    principal: Principal,
    batch_id: str,
    body: ReversalCreate,
) -> PayoutBatchRead:
    # The batch's row is locked first: a concurrent reversal of the same batch waits, then
    # sees this one's entries and finds nothing left to reverse.
    batch = await get_batch(session, principal, batch_id, for_update=True)
    entries = await batch_entries(session, batch_id)
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
        session.add(reversal_of(payment, batch, claim, on, principal, body.reason))
        if payment.bank_status == "sent":
            # finance records by hand the bank's answer a result file would have given
            mark_returned(payment, body.reason)
        add_event(
            session,
            claim,
            principal,
            "approved",
            f"payment reversed: {body.reason}",
            payment=payment_of(payment, body.reason),
        )
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
    entries = await batch_entries(session, batch.id)
    return PayoutBatchRead(
        **summary(batch, entries).model_dump(),
        entries=[PayoutEntryRead.model_validate(e) for e in entries],
    )


def summary(batch: PayoutBatch, entries: list[PayoutEntry]) -> PayoutBatchSummary:
    statuses = Counter(e.bank_status for e in entries if e.entry_kind == "payment")
    return PayoutBatchSummary(
        id=batch.id,
        paid_on=batch.paid_on,
        reference=batch.reference,
        created_by=batch.created_by,
        created_at=batch.created_at,
        total=sum((e.amount for e in entries), Decimal("0.00")),
        claims=len({e.claim_id for e in entries}),
        sent=statuses["sent"],
        settled=statuses["settled"],
        returned=statuses["returned"],
    )


async def batch_entries(
    session: AsyncSession, batch_id: str, *, kind: str | None = None
) -> list[PayoutEntry]:
    query = select(PayoutEntry).where(PayoutEntry.batch_id == batch_id).order_by(PayoutEntry.id)
    if kind is not None:
        query = query.where(PayoutEntry.entry_kind == kind)
    return list(await session.scalars(query))


async def ledger(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    plan_code: str | None,
    unit_id: str | None,
    paid_from: date | None,
    paid_to: date | None,
    bank_status: str | None = None,
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
    if bank_status:
        query = query.where(PayoutEntry.bank_status == bank_status)
    if page.after_id:
        query = query.where(PayoutEntry.id > page.after_id)
    return list(await session.scalars(query))
