"""Enrolments (参保): one member in one plan with some shares, through a unit.

Each refusal of DOMAIN.md is a RuleViolation with a stable `code` and a sentence saying why.
The member's row is locked first, so two enrolments of the same member are checked one after
the other (max_shares holds across concurrent requests)."""

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.enrollments import periods
from members_api.enrollments.schemas import ID_PATTERN, EnrollmentCreate, EnrollmentStatus
from members_api.members.service import get_member
from members_api.models import Enrollment, Member, Plan, Unit
from members_api.plans.service import get_plan
from services.auth import Principal, Role
from services.clock import now, today
from services.errors import Forbidden, NotFound, RuleViolation
from services.identity import age_on
from services.ids import new_id
from services.pagination import PageParams
from services.plan_rules import PlanTerms

_ID = re.compile(ID_PATTERN)
READERS = (Role.admin, Role.hr, Role.member, Role.reviewer, Role.finance, Role.auditor)


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
    if not unit.active:
        raise RuleViolation(
            f"unit {unit.name} is inactive: it cannot enrol members", code="unit_inactive"
        )
    return unit


def _refuse_admin_only_fields(principal: Principal, data: EnrollmentCreate) -> None:
    if principal.role == Role.admin:
        return
    for name in ("enrolled_on", "starts_on"):
        if getattr(data, name) is not None:
            raise Forbidden(f"only an admin may set {name}")


def _starts_on(terms: PlanTerms, enrolled_on: date, asked: date | None) -> date:
    if asked is not None:
        if not terms.coverage_start <= asked <= terms.coverage_end:
            raise RuleViolation(
                f"starts_on {asked} is outside the plan's cover "
                f"{terms.coverage_start} to {terms.coverage_end}",
                code="starts_on_before_cover",
            )
        return asked
    starts_on = periods.default_starts_on(enrolled_on, terms.coverage_start)
    if starts_on > terms.coverage_end:
        raise RuleViolation(
            f"the plan's cover ends on {terms.coverage_end}: an enrolment on {enrolled_on} "
            "would start after it",
            code="enrolment_closed",
        )
    return starts_on


def _check_not_left(member: Member) -> None:
    if member.status == "left":
        left = f" on {member.left_on}" if member.left_on else ""
        raise RuleViolation(
            f"member {member.id} left their unit{left}: a member who has left cannot enrol",
            code="member_left",
        )


def _check_eligibility(member: Member, terms: PlanTerms, starts_on: date) -> None:
    """Sex from the identity number; age on the day the enrolment's cover starts."""
    rules = terms.eligibility
    if rules.sex is not None and member.sex != rules.sex:
        raise RuleViolation(
            f"the plan is for sex {rules.sex} only; the member's identity number says {member.sex}",
            code="sex_not_eligible",
        )
    age = age_on(member.birth_date, starts_on)
    too_young = rules.min_age is not None and age < rules.min_age
    too_old = rules.max_age is not None and age > rules.max_age
    if too_young or too_old:
        allowed = f"{rules.min_age if rules.min_age is not None else 0} to "
        allowed += f"{rules.max_age}" if rules.max_age is not None else "any age"
        raise RuleViolation(
            f"the member is {age} on {starts_on}, when the cover starts; the plan takes ages "
            f"{allowed}",
            code="age_out_of_range",
        )


def _check_window(terms: PlanTerms, enrolled_on: date) -> None:
    if not terms.enrol_from <= enrolled_on <= terms.enrol_until:
        raise RuleViolation(
            f"enrolment is open from {terms.enrol_from} to {terms.enrol_until}; "
            f"{enrolled_on} is outside it",
            code="enrolment_closed",
        )


async def _check_shares(
    session: AsyncSession, member: Member, plan: Plan, terms: PlanTerms, shares: int
) -> None:
    held_query = select(func.coalesce(func.sum(Enrollment.shares), 0)).where(
        Enrollment.member_id == member.id,
        Enrollment.plan_code == plan.code,
        Enrollment.status == "active",
    )
    held = int(await session.scalar(held_query) or 0)
    if held + shares > terms.max_shares:
        raise RuleViolation(
            f"the plan allows {terms.max_shares} shares per person across all units; the member "
            f"holds {held}, so {shares} more would make {held + shares}",
            code="max_shares_exceeded",
        )


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
    principal.require(Role.admin, Role.hr)
    _refuse_admin_only_fields(principal, data)
    member = await _member_for_enrolment(session, principal, data.member_id)
    plan = await get_plan(session, data.plan_code)
    terms = PlanTerms.model_validate(plan.terms)
    enrolled_on = data.enrolled_on or today()
    _check_not_left(member)
    unit = await _unit_for_enrolment(session, principal, member, data.unit_id)
    _check_window(terms, enrolled_on)
    starts_on = _starts_on(terms, enrolled_on, data.starts_on)
    _check_eligibility(member, terms, starts_on)
    await _check_shares(session, member, plan, terms, data.shares)
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
    session.add(enrollment)
    await session.flush()
    return enrollment


async def get_enrollment(
    session: AsyncSession, principal: Principal, enrollment_id: str
) -> Enrollment:
    principal.require(*READERS)
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
    session: AsyncSession, principal: Principal, enrollment_id: str
) -> Enrollment:
    """Only before cover starts: contributions are not refunded once it has."""
    principal.require(Role.admin)
    enrollment = await get_enrollment(session, principal, enrollment_id)
    if enrollment.status == "cancelled":
        raise RuleViolation(
            f"enrollment {enrollment_id} is already cancelled", code="already_cancelled"
        )
    on = today()
    if on >= enrollment.starts_on:
        raise RuleViolation(
            f"the cover started on {enrollment.starts_on}: contributions are not refunded once "
            "cover starts, so the enrolment cannot be cancelled",
            code="cover_started",
        )
    enrollment.status = "cancelled"
    enrollment.cancelled_at = now()
    await session.flush()
    return enrollment


async def list_enrollments(
    session: AsyncSession, principal: Principal, page: PageParams, where: EnrollmentFilter
) -> list[Enrollment]:
    """hr sees its own unit's enrolments, a member its own; other filters narrow further."""
    principal.require(*READERS)
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
