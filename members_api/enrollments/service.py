"""Enrolments (参保): one member in one plan with some shares, through a unit.

Each refusal of DOMAIN.md is a RuleViolation with a stable `code` and a sentence saying why.
The member's row is locked first, so two enrolments of the same member are checked one after
the other (max_shares holds across concurrent requests)."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.audit import audit
from members_api.contributions.ledger import Part, Pool, UnitLedger, fen, paid_by, yuan
from members_api.enrollments import periods, rules
from members_api.enrollments.schemas import (
    ID_PATTERN,
    EnrollmentCreate,
    EnrollmentRead,
    EnrollmentStatus,
)
from members_api.members.service import get_member
from members_api.models import Enrollment, Member, Plan, Unit
from members_api.plans.service import get_plan
from members_api.problems import ALREADY_CANCELLED, COVER_STARTED
from services.kit.auth import Principal, Role
from services.kit.clock import now, today
from services.kit.errors import Forbidden, NotFound
from services.kit.ids import new_id
from services.kit.pagination import PageParams
from services.kit.plan_rules import PlanTerms

_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class EnrollmentFilter:
    member_id: str | None = None
    unit_id: str | None = None
    plan_code: str | None = None
    status: EnrollmentStatus | None = None


async def _member_for_enrolment(
    session: AsyncSession, principal: Principal, member_id: str
) -> Member:
    """The member, locked until the end of the request; another unit's member is 404 for hr."""
    member = await get_member(session, principal, member_id)
    await session.refresh(member, with_for_update=True)
    return member


async def _unit_for_enrolment(
    session: AsyncSession, principal: Principal, member: Member, unit_id: str | None
) -> Unit:
    unit_id = unit_id or member.unit_id
    unit = await session.get(Unit, unit_id)
    if unit is None or not principal.can_see_unit(unit_id):
        raise NotFound(f"unit {unit_id} not found")
    rules.raise_first([rules.unit_inactive(unit.name, unit.active)])
    return unit


def refuse_admin_only_fields(
    principal: Principal, enrolled_on: date | None, starts_on: date | None
) -> None:
    if principal.role == Role.admin:
        return
    for name, value in (("enrolled_on", enrolled_on), ("starts_on", starts_on)):
        if value is not None:
            raise Forbidden(f"only an admin may set {name}")


async def _shares_held(session: AsyncSession, member: Member, plan: Plan) -> int:
    """The shares of the member's active enrolments in the plan, all units together."""
    held_query = select(func.coalesce(func.sum(Enrollment.shares), 0)).where(
        Enrollment.member_id == member.id,
        Enrollment.plan_code == plan.code,
        Enrollment.status == "active",
    )
    return int(await session.scalar(held_query) or 0)


async def _is_renewal(
    session: AsyncSession, member: Member, plan: Plan, terms: PlanTerms, starts_on: date
) -> bool:
    """A live enrolment in another edition of the same line that ended before this one starts,
    at most `renewal_grace_days` earlier."""
    query = (
        select(Enrollment.ends_on)
        .join(Plan, Plan.code == Enrollment.plan_code)
        .where(
            Enrollment.member_id == member.id,
            Enrollment.status != "cancelled",
            Enrollment.plan_code != plan.code,
            Enrollment.ends_on < starts_on,
            Plan.line == plan.line,
        )
    )
    previous_ends = (await session.scalars(query)).all()
    return periods.is_renewal(starts_on, previous_ends, terms.renewal_grace_days)


async def create_enrollment(
    session: AsyncSession, principal: Principal, data: EnrollmentCreate
) -> Enrollment:
    refuse_admin_only_fields(principal, data.enrolled_on, data.starts_on)
    member = await _member_for_enrolment(session, principal, data.member_id)
    plan = await get_plan(session, data.plan_code)
    terms = PlanTerms.model_validate(plan.terms)
    enrolled_on = data.enrolled_on or today()
    rules.raise_first([rules.member_left(f"member {member.id}", member.status, member.left_on)])
    unit = await _unit_for_enrolment(session, principal, member, data.unit_id)
    rules.raise_first(
        [
            rules.outside_window(terms, enrolled_on),
            rules.starts_on_refused(terms, enrolled_on, data.starts_on),
        ]
    )
    starts_on = rules.starts_on(terms, enrolled_on, data.starts_on)
    rules.raise_first(rules.ineligible(member.sex, member.birth_date, terms, starts_on))
    held = await _shares_held(session, member, plan)
    rules.raise_first([rules.too_many_shares(terms, held, data.shares)])
    renewal = await _is_renewal(session, member, plan, terms, starts_on)
    dates = periods.periods(terms, starts_on, renewal)
    enrollment = Enrollment(
        id=new_id("enr"),
        member_id=member.id,
        plan_code=plan.code,
        unit_id=unit.id,
        shares=data.shares,
        enrolled_on=enrolled_on,
        starts_on=dates.starts_on,
        ends_on=dates.ends_on,
        waiting_ends_on=dates.waiting_ends_on,
        reduced_ends_on=dates.reduced_ends_on,
        renewal=dates.renewal,
        contribution_due=periods.contribution_due(terms, data.shares),
        status="active",
        created_at=now(),
    )
    ledger = await UnitLedger.lock(session, unit.id, plan.code)
    given = pay_from_credit(enrollment, await ledger.pool())
    ledger.credit -= sum(part.fen for part in given)
    session.add(enrollment)
    await session.flush()
    for part in given:
        ledger.give(part.contribution_id, enrollment.id, part.fen)
    await ledger.save()
    after = EnrollmentRead.of(enrollment, terms.cover_requires_payment).model_dump(mode="json")
    after["starts_on_set_by_admin"] = data.starts_on is not None
    await audit.record(
        session,
        principal,
        action="enrollment.create",
        entity="enrollment",
        entity_id=enrollment.id,
        after=after,
    )
    return enrollment


def pay_from_credit(enrollment: Enrollment, pool: Pool) -> list[Part]:
    """A new enrolment takes what it owes from the unit's credit (members_api.contributions
    .ledger); one that owes nothing is paid on the day it is made."""
    due = fen(enrollment.contribution_due)
    parts = pool.take(due)
    paid = sum(part.fen for part in parts)
    enrollment.contribution_paid = yuan(paid)
    enrollment.paid_on = enrollment.enrolled_on if due == 0 else paid_by(parts, paid, due)
    return parts


async def get_enrollment(
    session: AsyncSession, principal: Principal, enrollment_id: str
) -> Enrollment:
    known = _ID.fullmatch(enrollment_id)
    enrollment = await session.get(Enrollment, enrollment_id) if known else None
    if enrollment is None or not _may_see(principal, enrollment):
        raise NotFound(f"enrollment {enrollment_id} not found")
    return enrollment


def _may_see(principal: Principal, enrollment: Enrollment) -> bool:
    if principal.role == Role.member:
        return enrollment.member_id == principal.member_id
    return principal.can_see_unit(enrollment.unit_id)


async def cancel_enrollment(
    session: AsyncSession, principal: Principal, enrollment: Enrollment, reason: str | None
) -> Enrollment:
    """Only before cover starts: contributions are not refunded once it has. What the unit's
    payments gave it goes back to the unit's credit, which then pays the unit's unpaid
    enrolments in the plan, oldest first (the audit record says how much was returned).
    `enrollment`: looked up by the route first, so another unit's or member's is 404
    (services.kit.access)."""
    # The unit's ledger first, then the enrolment read again under it (a payment may just
    # have paid it; a concurrent cancellation may have cancelled it).
    ledger = await UnitLedger.lock(session, enrollment.unit_id, enrollment.plan_code)
    await session.refresh(enrollment, with_for_update=True)
    if enrollment.status == "cancelled":
        raise ALREADY_CANCELLED.error(f"enrollment {enrollment.id} is already cancelled")
    terms = PlanTerms.model_validate((await get_plan(session, enrollment.plan_code)).terms)
    # with cover_requires_payment, an enrolment past starts_on but not paid was never covered
    cover_from = periods.covered_from(
        enrollment.starts_on, enrollment.paid_on, terms.cover_requires_payment
    )
    if cover_from is not None and today() >= cover_from:
        raise COVER_STARTED.error(
            f"the cover started on {cover_from}: contributions are not refunded once "
            "cover starts, so the enrolment cannot be cancelled"
        )
    enrollment.status = "cancelled"
    enrollment.cancelled_at = now()
    returned = await ledger.release(enrollment)
    await session.flush()
    pool = await ledger.pool()
    await ledger.give_to_unpaid(pool)
    ledger.credit = pool.fen
    await ledger.save()
    await audit.record(
        session,
        principal,
        action="enrollment.cancel",
        entity="enrollment",
        entity_id=enrollment.id,
        before={"status": "active"},
        after={
            "status": "cancelled",
            "reason": reason,
            "returned_to_credit": str(yuan(returned)),
        },
    )
    return enrollment


async def list_enrollments(
    session: AsyncSession, principal: Principal, page: PageParams, where: EnrollmentFilter
) -> list[Enrollment]:
    """hr sees its own unit's enrolments, a member its own; other filters narrow further."""
    query = select(Enrollment).order_by(Enrollment.id).limit(page.limit + 1)
    if principal.role == Role.hr:
        query = query.where(Enrollment.unit_id == principal.unit_id)
    elif principal.role == Role.member:
        query = query.where(Enrollment.member_id == principal.member_id)
    if where.member_id:
        query = query.where(Enrollment.member_id == where.member_id)
    if where.unit_id:
        query = query.where(Enrollment.unit_id == where.unit_id)
    if where.plan_code:
        query = query.where(Enrollment.plan_code == where.plan_code)
    if where.status:
        query = query.where(Enrollment.status == where.status)
    if page.after_id:
        query = query.where(Enrollment.id > page.after_id)
    return list((await session.scalars(query)).all())


async def plans_requiring_payment(session: AsyncSession, plan_codes: Iterable[str]) -> set[str]:
    """Which of these plans cover an enrolment only once it is paid (cover_requires_payment)."""
    codes = set(plan_codes)
    if not codes:
        return set()
    query = select(Plan.code, Plan.terms).where(Plan.__table__.c.code.in_(codes))  # type: ignore[attr-defined]
    rows = await session.execute(query)
    return {code for code, terms in rows if terms.get("cover_requires_payment")}


async def read_enrollments(
    session: AsyncSession, enrollments: Sequence[Enrollment]
) -> list[EnrollmentRead]:
    """The enrolments as answered, with the day each one's cover really starts."""
    gated = await plans_requiring_payment(session, (e.plan_code for e in enrollments))
    return [EnrollmentRead.of(e, e.plan_code in gated) for e in enrollments]


async def read_enrollment(session: AsyncSession, enrollment: Enrollment) -> EnrollmentRead:
    return (await read_enrollments(session, [enrollment]))[0]
