"""Payments (缴费): recorded by finance, allocated to the unit's enrolments at once, never
edited; a mistaken one is reversed by a negative entry and the allocation follows. The rules
of the allocation and the lock are members_api.contributions.ledger's."""

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.audit import audit
from members_api.bulk import chunks
from members_api.contributions.ledger import Given, Lot, Pool, UnitLedger, fen, yuan
from members_api.contributions.schemas import (
    AllocationRead,
    ContributionCreate,
    ContributionDetail,
    ContributionRead,
    ReversalCreate,
)
from members_api.enrollments.schemas import ID_PATTERN
from members_api.models import (
    Contribution,
    ContributionAllocation,
    Enrollment,
    Unit,
    UnitPlanCredit,
)
from members_api.plans.service import get_plan
from members_api.problems import CONTRIBUTION_REVERSED, NOT_A_PAYMENT, REFERENCE_EXISTS
from services.kit.auth import Principal, Role
from services.kit.clock import today
from services.kit.errors import InvalidInput, NotFound
from services.kit.ids import new_id
from services.kit.pagination import PageParams

_ID = re.compile(ID_PATTERN)
# A payment dated more than this before its plan's cover starts is a typing mistake.
EARLIEST_BEFORE_COVER = timedelta(days=366)


@dataclass(frozen=True)
class ContributionFilter:
    unit_id: str | None = None
    plan_code: str | None = None


def _may_see(principal: Principal, contribution: Contribution) -> bool:
    return principal.can_see_unit(contribution.unit_id)


async def get_contribution(
    session: AsyncSession, principal: Principal, contribution_id: str
) -> Contribution:
    """Another unit's payment is 404 to hr."""
    known = _ID.fullmatch(contribution_id)
    contribution = await session.get(Contribution, contribution_id) if known else None
    if contribution is None or not _may_see(principal, contribution):
        raise NotFound(f"contribution {contribution_id} not found")
    return contribution


async def list_contributions(
    session: AsyncSession, principal: Principal, page: PageParams, where: ContributionFilter
) -> list[Contribution]:
    query = select(Contribution).order_by(Contribution.id).limit(page.limit + 1)
    if principal.role == Role.hr:
        query = query.where(Contribution.unit_id == principal.unit_id)
    if where.unit_id:
        query = query.where(Contribution.unit_id == where.unit_id)
    if where.plan_code:
        query = query.where(Contribution.plan_code == where.plan_code)
    if page.after_id:
        query = query.where(Contribution.id > page.after_id)
    return list((await session.scalars(query)).all())


async def reversals_of(session: AsyncSession, ids: list[str]) -> dict[str, str]:
    """payment id -> its reversal's id, for those of `ids` that are reversed."""
    if not ids:
        return {}
    query = select(Contribution.reverses_id, Contribution.id).where(
        Contribution.reverses_id.in_(ids)  # type: ignore[union-attr]
    )
    return {payment: reversal for payment, reversal in (await session.execute(query)).all()}


def read(contribution: Contribution, reversed_by: str | None = None) -> ContributionRead:
    return ContributionRead.model_validate(contribution).model_copy(
        update={"reversed_by": reversed_by}
    )


# --- recording a payment ------------------------------------------------------------------


async def _unit(session: AsyncSession, unit_id: str) -> Unit:
    unit = await session.get(Unit, unit_id) if _ID.fullmatch(unit_id) else None
    if unit is None:
        raise NotFound(f"unit {unit_id} not found")
    return unit


async def record_payment(
    session: AsyncSession, principal: Principal, data: ContributionCreate
) -> ContributionDetail:
    """The payment, allocated at once to the unit's unpaid enrolments of the plan (oldest
    first); what is left is the unit's credit for the plan."""
    unit = await _unit(session, data.unit_id)
    plan = await get_plan(session, data.plan_code)
    if data.paid_on > today():
        raise InvalidInput(["paid_on"], "a payment cannot be dated in the future")
    earliest = plan.coverage_start - EARLIEST_BEFORE_COVER
    if data.paid_on < earliest:
        raise InvalidInput(
            ["paid_on"],
            f"more than a year before the plan's cover starts ({plan.coverage_start}): "
            f"a payment for {plan.code} is dated {earliest} or later",
        )
    ledger = await UnitLedger.lock(session, unit.id, plan.code)
    taken = await session.scalar(
        select(Contribution.id).where(
            Contribution.plan_code == plan.code, Contribution.reference == data.reference
        )
    )
    if taken is not None:
        raise _reference_exists(plan.code, data.reference, taken)
    payment = Contribution(
        id=new_id("con"),
        unit_id=unit.id,
        plan_code=plan.code,
        amount=data.amount,
        paid_on=data.paid_on,
        reference=data.reference,
        method=data.method,
        recorded_by=principal.sub,
        recorded_at=ledger.at,
    )
    session.add(payment)
    try:
        await session.flush()
    except IntegrityError:  # the same reference, recorded for another unit at the same time
        raise _reference_exists(plan.code, data.reference, None) from None
    pool = Pool([Lot(payment.id, payment.paid_on, fen(payment.amount))])
    given = await ledger.give_to_unpaid(pool)
    ledger.credit += pool.fen
    await ledger.save()
    detail = await detail_of(session, payment, None, ledger.credit)
    await audit.record(
        session,
        principal,
        action="contribution.create",
        entity="contribution",
        entity_id=payment.id,
        after=_audited(detail, given),
    )
    return detail


def _reference_exists(plan_code: str, reference: str, taken: str | None) -> Exception:
    which = f" ({taken})" if taken else ""
    return REFERENCE_EXISTS.error(
        f"a payment with reference {reference} is recorded for {plan_code} already{which}: "
        "a payment is recorded once; a mistaken one is reversed",
        contribution_id=taken,
    )


def _audited(detail: ContributionDetail, given: list[Given]) -> dict[str, object]:
    """The payment and what its allocation did, in totals (an allocation may touch 100,000
    enrolments: the rows are in contribution_allocation, append-only)."""
    summary = detail.model_dump(mode="json", exclude={"allocations", "reallocated"})
    summary["enrollments"] = len({g.enrollment_id for g in given})
    return summary


# --- reversing one -------------------------------------------------------------------------


async def reverse_payment(
    session: AsyncSession, principal: Principal, payment: Contribution, data: ReversalCreate
) -> ContributionDetail:
    """A negative entry of the payment's amount. The enrolments it pays lose that money and
    owe again (paid_on null); what of it was still credit leaves the credit; then the unit's
    remaining credit (its other payments) goes to its unpaid enrolments, oldest first.
    `payment`: looked up by the route first (another unit's is 404 to hr)."""
    if payment.reverses_id is not None:
        raise NOT_A_PAYMENT.error(
            f"{payment.id} is the reversal of {payment.reverses_id}: a reversal is not reversed"
        )
    reversed_on = data.reversed_on or today()
    if reversed_on > today():
        raise InvalidInput(["reversed_on"], "a reversal cannot be dated in the future")
    if reversed_on < payment.paid_on:
        raise InvalidInput(
            ["reversed_on"],
            f"the payment was made on {payment.paid_on}: it cannot be reversed before",
        )
    ledger = await UnitLedger.lock(session, payment.unit_id, payment.plan_code)
    already = (await reversals_of(session, [payment.id])).get(payment.id)
    if already is not None:
        raise CONTRIBUTION_REVERSED.error(
            f"payment {payment.id} is reversed already ({already})", contribution_id=already
        )
    reversal = Contribution(
        id=new_id("con"),
        unit_id=payment.unit_id,
        plan_code=payment.plan_code,
        amount=-payment.amount,
        paid_on=reversed_on,
        reference=None,
        method=payment.method,
        reason=data.reason,
        recorded_by=principal.sub,
        recorded_at=ledger.at,
        reverses_id=payment.id,
    )
    session.add(reversal)
    try:
        await session.flush()
    except IntegrityError:  # reversed by a concurrent request (reverses_id is unique)
        raise CONTRIBUTION_REVERSED.error(f"payment {payment.id} is reversed already") from None
    taken = await ledger.take_back(payment, reversal)
    pool = await ledger.pool()
    reallocated = await ledger.give_to_unpaid(pool)
    ledger.credit = pool.fen
    await ledger.save()
    detail = await detail_of(session, reversal, None, ledger.credit)
    if reallocated:
        ids = [g.id for g in reallocated if g.id is not None]
        for chunk in chunks(ids):
            detail.reallocated += await _allocations(session, ids=list(chunk))
    after = _audited(detail, taken)
    after["reallocated"] = str(yuan(sum(g.fen for g in reallocated)))
    await audit.record(
        session,
        principal,
        action="contribution.reverse",
        entity="contribution",
        entity_id=payment.id,
        before={"reversed_by": None},
        after=after,
    )
    return detail


# --- reading ------------------------------------------------------------------------------


async def detail_of(
    session: AsyncSession,
    contribution: Contribution,
    reversed_by: str | None,
    credit: int | None = None,
) -> ContributionDetail:
    """The payment (or reversal) with its allocations and the unit's credit now."""
    if reversed_by is None and contribution.reverses_id is None:
        reversed_by = (await reversals_of(session, [contribution.id])).get(contribution.id)
    allocations = await _allocations(session, contribution_id=contribution.id)
    if credit is None:
        credit = await current_credit(session, contribution.unit_id, contribution.plan_code)
    return ContributionDetail(
        **read(contribution, reversed_by).model_dump(),
        allocated=sum((a.amount for a in allocations), yuan(0)),
        credit=yuan(credit),
        allocations=allocations,
    )


async def current_credit(session: AsyncSession, unit_id: str, plan_code: str) -> int:
    stored = await session.get(UnitPlanCredit, (unit_id, plan_code))
    return fen(stored.credit) if stored is not None else 0


async def _allocations(
    session: AsyncSession, *, contribution_id: str | None = None, ids: list[str] | None = None
) -> list[AllocationRead]:
    a, e = ContributionAllocation, Enrollment
    query = (
        select(
            a.id,
            a.contribution_id,
            a.enrollment_id,
            e.member_id,
            a.amount,
            a.at,
            e.contribution_due,
            e.contribution_paid,
            e.paid_on,
        )
        .join(e, e.id == a.enrollment_id)  # type: ignore[arg-type]
        .order_by(a.id)
    )
    if contribution_id is not None:
        query = query.where(a.contribution_id == contribution_id)
    if ids is not None:
        query = query.where(a.id.in_(ids))  # type: ignore[attr-defined]
    rows = (await session.execute(query)).all()
    return [
        AllocationRead(
            id=row.id,
            contribution_id=row.contribution_id,
            enrollment_id=row.enrollment_id,
            member_id=row.member_id,
            amount=row.amount,
            at=row.at,
            contribution_due=row.contribution_due,
            contribution_paid=row.contribution_paid,
            owed=row.contribution_due - row.contribution_paid,
            paid=row.paid_on is not None,
            paid_on=row.paid_on,
        )
        for row in rows
    ]
