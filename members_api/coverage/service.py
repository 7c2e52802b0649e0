"""Coverage: is a member covered by a plan on a day. On the claims service's hot path (every
claim filed asks), so it is written for CPU per request: one Core query built once, the
plan's parsed terms kept between requests, the answer serialised once (routes.py)."""

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Text, and_, bindparam, cast, select
from sqlalchemy.ext.asyncio import AsyncConnection

from members_api.coverage.schemas import CoveragePlan, CoverageRead, CoveredMember
from members_api.enrollments.periods import covered_from
from members_api.enrollments.schemas import STORED_FIELDS, EnrollmentRead
from members_api.members.service import can_see_member
from members_api.models import Enrollment, Member, Plan
from services.kit.auth import Principal, Role
from services.kit.errors import NotFound
from services.kit.plan_rules import EnrollmentCover, PlanTerms

FULL, NONE = Decimal("1"), Decimal("0")

plans_table = Plan.__table__  # type: ignore[attr-defined]
members_table = Member.__table__  # type: ignore[attr-defined]
enrollments_table = Enrollment.__table__  # type: ignore[attr-defined]

PLAN_COLUMNS = ("code", "line", "name", "kind", "rules_version")
MEMBER_COLUMNS = tuple(CoveredMember.model_fields)
ENROLLMENT_COLUMNS = STORED_FIELDS  # paid_on among them: EnrollmentRead.of reads it
_MEMBER_AT = len(PLAN_COLUMNS) + 1
_ENROLLMENT_AT = _MEMBER_AT + len(MEMBER_COLUMNS)

# Built once, and columns rather than ORM entities: building the select and loading three
# entities per request was most of the answer's CPU. The model's columns keep their result
# types (Fen money, UtcDateTime). The terms come back as their stored JSON text, the key of the
# parsed-terms cache (no JSON decoding per row).
_COVERAGE_QUERY = (
    select(
        *(plans_table.c[name] for name in PLAN_COLUMNS),
        cast(plans_table.c.terms, Text),
        *(members_table.c[name] for name in MEMBER_COLUMNS),
        *(enrollments_table.c[name] for name in ENROLLMENT_COLUMNS),
    )
    .select_from(plans_table)
    .outerjoin(members_table, members_table.c.id == bindparam("member_id"))
    .outerjoin(
        enrollments_table,
        and_(
            enrollments_table.c.member_id == members_table.c.id,
            enrollments_table.c.plan_code == plans_table.c.code,
            enrollments_table.c.status == "active",
        ),
    )
    .where(plans_table.c.code == bindparam("plan_code"))
)


@lru_cache(maxsize=256)
def plan_terms(terms_json: str) -> PlanTerms:
    """The parsed terms of a plan, by their stored JSON text: terms that change in any way are
    a different key, so a changed plan is never answered with its old terms. PlanTerms is
    frozen, so one instance is safely shared by every answer."""
    return PlanTerms.model_validate(json.loads(terms_json))


_ID, _SHARES, _STARTS_ON, _ENDS_ON, _CREATED_AT, _PAID_ON = (
    ENROLLMENT_COLUMNS.index(name)
    for name in ("id", "shares", "starts_on", "ends_on", "created_at", "paid_on")
)
EnrollmentValues = Sequence[Any]
"""One active enrolment's stored columns, in the order of ENROLLMENT_COLUMNS (its id None
for a member with none: the outer join's empty side)."""


def _cover(
    enrollments: Sequence[EnrollmentValues], on: date, requires_payment: bool
) -> tuple[EnrollmentRead, int, bool] | None:
    """The enrolment whose cover contains `on`, the shares covering the member that day, and
    whether that cover is in force (not waiting for its contribution).

    A member enrolled in the same plan through several units holds several enrolments: the
    earliest-starting one gives the cover's id and dates, and the cover carries the SUM of the
    shares of all those containing `on` (max_shares is enforced across units at enrolment).
    When the plan requires payment, only those whose cover has started by `on` count; if none
    has, the answer is the earliest of the unpaid ones, not in force.
    """
    current = [
        row
        for row in enrollments
        if row[_ID] is not None and row[_STARTS_ON] <= on <= row[_ENDS_ON]
    ]
    if not current:
        return None
    if requires_payment:
        started = [row for row in current if _started(row, on)]
        in_force = bool(started)
        current = started or current
    else:
        in_force = True
    first = min(current, key=lambda row: (row[_STARTS_ON], row[_CREATED_AT], row[_ID]))
    enrollment = EnrollmentRead.of(
        dict(zip(ENROLLMENT_COLUMNS, first, strict=True)), requires_payment
    )
    return enrollment, sum(row[_SHARES] for row in current), in_force


def _started(row: EnrollmentValues, on: date) -> bool:
    starts = covered_from(row[_STARTS_ON], row[_PAID_ON], requires_payment=True)
    return starts is not None and starts <= on


async def coverage(
    connection: AsyncConnection, principal: Principal, member_id: str, plan_code: str, on: date
) -> CoverageRead:
    """Is `member_id` covered by `plan_code` on `on` (decide, below, says how)."""
    if principal.role == Role.member and principal.member_id != member_id:
        raise NotFound(f"member {member_id} not found")
    result = await connection.execute(
        _COVERAGE_QUERY, {"member_id": member_id, "plan_code": plan_code}
    )
    rows = result.all()
    if not rows:
        raise NotFound(f"plan {plan_code} not found")
    first = rows[0]
    if first[_MEMBER_AT] is None:
        raise NotFound(f"member {member_id} not found")
    member = CoveredMember(
        **dict(zip(MEMBER_COLUMNS, first[_MEMBER_AT:_ENROLLMENT_AT], strict=True))
    )
    # can_see_member reads only the member's id and unit_id.
    if not can_see_member(principal, member):  # type: ignore[arg-type]
        raise NotFound(f"member {member_id} not found")
    plan = covered_plan(first[:_MEMBER_AT])
    return decide(plan, member, [row[_ENROLLMENT_AT:] for row in rows], on)


def covered_plan(values: Sequence[Any]) -> CoveragePlan:
    """The plan as answered, from its PLAN_COLUMNS and its terms' stored JSON text."""
    code, line, name, kind, rules_version, terms_json = values
    return CoveragePlan(
        code=code,
        line=line,
        name=name,
        kind=kind,
        terms=plan_terms(terms_json),
        rules_version=rules_version,
    )


def decide(
    plan: CoveragePlan, member: CoveredMember, enrollments: Sequence[EnrollmentValues], on: date
) -> CoverageRead:
    """The answer for one member, plan and day, given the member's active enrolments in the
    plan: the single look-up and the batch one (members_api.coverage.lookup) both answer
    with it, so they cannot differ.

    Not covered, in order of precedence: `not_enrolled` (no active enrolment's cover
    contains the day), `member_left` (the day is after `left_on`), `contribution_unpaid` (the
    plan requires payment and the day is before the contribution was paid in full, or it is
    unpaid), `waiting_period` (counted from the day cover started)."""
    terms = plan.terms
    found = _cover(enrollments, on, terms.cover_requires_payment)
    enrollment = cover = None
    ratio, reason = NONE, "not_enrolled"
    if found is not None:
        enrollment, shares, in_force = found
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
            covered_from=enrollment.covered_from,
        )
        if member.left_on is not None and on > member.left_on:
            reason = "member_left"
        elif not in_force:
            reason = "contribution_unpaid"
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
        member=member,
        plan=plan,
        enrollment=enrollment,
        cover=cover,
        benefit_ratio=ratio,
    )
