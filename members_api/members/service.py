"""Members (workers): register, read, list, change, record leaving. One record per person,
keyed by the identity number; sex and birth date come from that number."""

import re
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.audit import audit
from members_api.members.schemas import ID_PATTERN, MemberCreate, MemberRead, MemberUpdate
from members_api.models import Member, Unit
from members_api.payout_accounts import service as payout_accounts
from members_api.problems import MEMBER_EXISTS, UNIT_INACTIVE
from members_api.units.service import get_unit
from services.kit.auth import Principal, Role
from services.kit.clock import now, today
from services.kit.errors import Forbidden, InvalidInput, NotFound
from services.kit.identity import birth_date_of, mask_national_id, sex_of
from services.kit.ids import new_id
from services.kit.pagination import PageParams

_READ_ALL = (Role.admin, Role.reviewer, Role.finance, Role.auditor)
LEFT_ON_HORIZON = timedelta(days=366)
_ID = re.compile(ID_PATTERN)


def can_see_member(principal: Principal, member: Member) -> bool:
    if principal.role in _READ_ALL:
        return True
    if principal.role == Role.hr:
        return member.unit_id == principal.unit_id
    return principal.role == Role.member and member.id == principal.member_id


def sees_full_national_id(principal: Principal, member: Member) -> bool:
    """Only admin and the member's own unit HR see the identity number unmasked."""
    return principal.role == Role.admin or (
        principal.role == Role.hr and member.unit_id == principal.unit_id
    )


def member_read(principal: Principal, member: Member) -> MemberRead:
    read = MemberRead.model_validate(member)
    if not sees_full_national_id(principal, member):
        read = read.model_copy(update={"national_id": mask_national_id(member.national_id)})
    return read


def audit_values(read: MemberRead) -> dict[str, Any]:
    """What the audit log keeps: the response, with the identity number always masked (the
    log is read by auditors, who never see the full number)."""
    values = read.model_dump(mode="json")
    if "*" not in values["national_id"]:
        values["national_id"] = mask_national_id(values["national_id"])
    return values


async def get_member(session: AsyncSession, principal: Principal, member_id: str) -> Member:
    """The member, if this principal may see it; another unit's or member's record is 404."""
    # A string that is not an id names nothing (and Postgres refuses some, e.g. NUL).
    member = await session.get(Member, member_id) if _ID.fullmatch(member_id) else None
    if member is None or not can_see_member(principal, member):
        raise NotFound(f"member {member_id} not found")
    return member


async def _active_unit(session: AsyncSession, principal: Principal, unit_id: str) -> Unit:
    unit = await get_unit(session, principal, unit_id)
    if not unit.active:
        raise UNIT_INACTIVE.error(f"unit {unit_id} is inactive")
    return unit


async def create_member(session: AsyncSession, principal: Principal, data: MemberCreate) -> Member:
    await _active_unit(session, principal, data.unit_id)
    existing = await session.scalar(select(Member).where(Member.national_id == data.national_id))
    if existing is not None:
        extra = {"member_id": existing.id} if can_see_member(principal, existing) else {}
        raise MEMBER_EXISTS.error(
            "a member with this identity number is already registered", **extra
        )
    at = now()
    member = Member(
        id=new_id("mbr"),
        **data.model_dump(),
        sex=sex_of(data.national_id),
        birth_date=birth_date_of(data.national_id),
        status="active",
        created_at=at,
        updated_at=at,
    )
    session.add(member)
    try:
        await session.flush()
    except IntegrityError:  # registered by a concurrent request since the check above
        raise MEMBER_EXISTS.error(
            "a member with this identity number is already registered"
        ) from None
    await audit.record(
        session,
        principal,
        action="member.create",
        entity="member",
        entity_id=member.id,
        after=audit_values(member_read(principal, member)),
    )
    return member


def left_on_problem(left_on: date, birth_date: date, on: date) -> str | None:
    """What is wrong with a leaving date (pure; PATCH and leaving in bulk share it)."""
    if left_on < birth_date:
        return "before the member's birth date"
    if left_on > on + LEFT_ON_HORIZON:
        return "more than 366 days in the future"
    return None


def _leaving_changes(member: Member, changes: dict[str, Any]) -> dict[str, Any]:
    status, left_on = changes.pop("status", None), changes.pop("left_on", None)
    if status is None:
        if left_on is not None:
            raise InvalidInput(["left_on"], 'send left_on together with "status": "left"')
        return {}
    if status == "active":
        if left_on is not None:
            raise InvalidInput(["left_on"], 'an active member has no left_on; send "status" only')
        return {"status": "active", "left_on": None}
    if left_on is None:
        raise InvalidInput(["left_on"], "required when status is left")
    if (problem := left_on_problem(left_on, member.birth_date, today())) is not None:
        raise InvalidInput(["left_on"], problem)
    return {"status": "left", "left_on": left_on}


async def update_member(
    session: AsyncSession, principal: Principal, member: Member, data: MemberUpdate
) -> Member:
    """`member`: looked up by the route first, so another's is 404 (services.kit.access)."""
    changes = data.model_dump(exclude_unset=True)
    changes.update(_leaving_changes(member, changes))
    if "unit_id" in changes and changes["unit_id"] != member.unit_id:
        if principal.role != Role.admin:
            raise Forbidden("only admin may move a member to another unit")
        await _active_unit(session, principal, changes["unit_id"])
    changes = {name: value for name, value in changes.items() if getattr(member, name) != value}
    before = {name: getattr(member, name) for name in changes}
    for name, value in changes.items():
        setattr(member, name, value)
    if not changes:
        return member
    member.updated_at = now()
    await session.flush()
    if "name" in changes:
        await payout_accounts.follow_member_name(session, principal, member)
    read = member_read(principal, member).model_dump(mode="json")
    await audit.record(
        session,
        principal,
        action="member.update",
        entity="member",
        entity_id=member.id,
        before=before,
        after={name: value for name, value in read.items() if name in before},
    )
    return member


async def list_members(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    unit_id: str | None = None,
    q: str | None = None,
    status: str | None = None,
) -> list[Member]:
    query = select(Member).order_by(Member.id).limit(page.limit + 1)
    if principal.role == Role.hr:
        query = query.where(Member.unit_id == principal.unit_id)
    elif principal.role == Role.member:
        query = query.where(Member.id == principal.member_id)
    elif principal.role not in _READ_ALL:
        return []
    if unit_id is not None:
        query = query.where(Member.unit_id == unit_id)
    if status is not None:
        query = query.where(Member.status == status)
    if q := (q or "").strip():
        query = query.where(
            or_(
                Member.name.icontains(q, autoescape=True),  # type: ignore[attr-defined]
                Member.national_id == q.upper(),
                Member.phone == q,
            )
        )
    if page.after_id:
        if not _ID.fullmatch(page.after_id):
            raise InvalidInput(["query", "cursor"], "not a cursor this service issued")
        query = query.where(Member.id > page.after_id)
    return list((await session.scalars(query)).all())
