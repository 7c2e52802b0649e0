"""Coverage: is a member covered by a plan on a day. On the claims service's hot path: the
member, the plan and the member's live enrolments in it come back in one query."""

from datetime import date
from decimal import Decimal

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.coverage.schemas import CoveragePlan, CoverageRead, CoveredMember
from members_api.enrollments.schemas import EnrollmentRead
from members_api.members.service import can_see_member
from members_api.models import Enrollment, Member, Plan
from services.auth import Principal, Role
from services.errors import NotFound
from services.plan_rules import EnrollmentCover, PlanTerms

FULL, NONE = Decimal("1"), Decimal("0")


async def _load(
    session: AsyncSession, member_id: str, plan_code: str
) -> tuple[Plan, Member | None, list[Enrollment]]:
    """One query: the plan, outer-joined to the member and to its active enrolments in it."""
    query = (
        select(Plan, Member, Enrollment)
        .select_from(Plan)
        .outerjoin(Member, Member.id == member_id)
        .outerjoin(
            Enrollment,
            and_(
                Enrollment.member_id == Member.id,
                Enrollment.plan_code == Plan.code,
                Enrollment.status == "active",
            ),
        )
        .where(Plan.code == plan_code)
    )
    rows = (await session.execute(query)).all()
    if not rows:
        raise NotFound(f"plan {plan_code} not found")
    plan, member = rows[0][0], rows[0][1]
    return plan, member, [row[2] for row in rows if row[2] is not None]


def _cover(enrollments: list[Enrollment], on: date) -> tuple[Enrollment, int] | None:
    """The enrolment whose cover contains `on`, and the shares covering the member that day.

    A member enrolled in the same plan through several units holds several enrolments: the
    earliest-starting one gives the cover's id and dates, and the cover carries the SUM of the
    shares of all those containing `on` (max_shares is enforced across units at enrolment).
    """
    current = [e for e in enrollments if e.starts_on <= on <= e.ends_on]
    if not current:
        return None
    first = min(current, key=lambda e: (e.starts_on, e.created_at, e.id))
    return first, sum(e.shares for e in current)


async def coverage(
    session: AsyncSession, principal: Principal, member_id: str, plan_code: str, on: date
) -> CoverageRead:
    """Not covered, in order of precedence: `not_enrolled` (no active enrolment's cover
    contains the day), `member_left` (the day is after `left_on`), `waiting_period`."""
    if principal.role == Role.member and principal.member_id != member_id:
        raise NotFound(f"member {member_id} not found")
    plan, member, enrollments = await _load(session, member_id, plan_code)
    if member is None or not can_see_member(principal, member):
        raise NotFound(f"member {member_id} not found")
    terms = PlanTerms.model_validate(plan.terms)
    found = _cover(enrollments, on)
    enrollment = cover = None
    ratio, reason = NONE, "not_enrolled"
    if found is not None:
        enrollment, shares = found
        cover = EnrollmentCover(
            enrollment_id=enrollment.id,
            member_id=member.id,
            unit_id=enrollment.unit_id,
            plan_code=plan.code,
            shares=shares,
            starts_on=enrollment.starts_on,
            ends_on=enrollment.ends_on,
            waiting_ends_on=enrollment.waiting_ends_on,
            reduced_ends_on=enrollment.reduced_ends_on,
            renewal=enrollment.renewal,
            member_left_on=member.left_on,
        )
        if member.left_on is not None and on > member.left_on:
            reason = "member_left"
        elif enrollment.waiting_ends_on is not None and on <= enrollment.waiting_ends_on:
            reason = "waiting_period"
        else:
            reason = None
            in_reduced = enrollment.reduced_ends_on is not None and on <= enrollment.reduced_ends_on
            ratio = terms.reduced_ratio if in_reduced else FULL
    return CoverageRead(
        covered=reason is None,
        reason=reason,
        on=on,
        member=CoveredMember(
            id=member.id, unit_id=member.unit_id, status=member.status, left_on=member.left_on
        ),
        plan=CoveragePlan(
            code=plan.code,
            line=plan.line,
            name=plan.name,
            kind=plan.kind,
            terms=terms,
            rules_version=plan.rules_version,
        ),
        enrollment=EnrollmentRead.model_validate(enrollment) if enrollment else None,
        cover=cover,
        benefit_ratio=ratio,
    )
