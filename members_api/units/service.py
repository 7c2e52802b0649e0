"""Units: create, read, list, change, deactivate (never delete: enrolments refer to them)."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.audit import audit
from members_api.models import Unit
from members_api.units.schemas import UnitCreate, UnitRead, UnitUpdate
from services.kit.auth import Principal, Role
from services.kit.clock import now
from services.kit.errors import Conflict, NotFound
from services.kit.ids import new_id
from services.kit.pagination import PageParams


async def get_unit(session: AsyncSession, principal: Principal, unit_id: str) -> Unit:
    unit = await session.get(Unit, unit_id)
    if unit is None or not principal.can_see_unit(unit_id):
        raise NotFound(f"unit {unit_id} not found")
    return unit


async def _refuse_taken_credit_code(
    session: AsyncSession, credit_code: str | None, unit_id: str | None = None
) -> None:
    if credit_code is None:
        return
    taken = await session.scalar(select(Unit.id).where(Unit.credit_code == credit_code))
    if taken is not None and taken != unit_id:
        raise Conflict(f"credit_code {credit_code} already belongs to unit {taken}")


async def create_unit(session: AsyncSession, principal: Principal, data: UnitCreate) -> Unit:
    await _refuse_taken_credit_code(session, data.credit_code)
    at = now()
    unit = Unit(id=new_id("unt"), **data.model_dump(), created_at=at, updated_at=at)
    session.add(unit)
    await session.flush()
    await audit.record(
        session,
        principal,
        action="unit.create",
        entity="unit",
        entity_id=unit.id,
        after=UnitRead.model_validate(unit).model_dump(mode="json"),
    )
    return unit


async def update_unit(
    session: AsyncSession, principal: Principal, unit: Unit, data: UnitUpdate
) -> Unit:
    """`unit`: looked up by the route first, so another unit is 404 to hr (services.kit.access)."""
    changes = data.model_dump(exclude_unset=True)
    if "credit_code" in changes:
        await _refuse_taken_credit_code(session, changes["credit_code"], unit.id)
    before = {name: getattr(unit, name) for name in changes}
    for name, value in changes.items():
        setattr(unit, name, value)
    unit.updated_at = now()
    await session.flush()
    read = UnitRead.model_validate(unit).model_dump(mode="json")
    await audit.record(
        session,
        principal,
        action="unit.update",
        entity="unit",
        entity_id=unit.id,
        before=before,
        after={name: value for name, value in read.items() if name in before},
    )
    return unit


async def list_units(
    session: AsyncSession, principal: Principal, page: PageParams, q: str | None
) -> list[Unit]:
    query = select(Unit).order_by(Unit.id).limit(page.limit + 1)
    if principal.role == Role.hr:
        query = query.where(Unit.id == principal.unit_id)
    if q:
        query = query.where(Unit.name.contains(q))  # type: ignore[attr-defined]
    if page.after_id:
        query = query.where(Unit.id > page.after_id)
    return list((await session.scalars(query)).all())
