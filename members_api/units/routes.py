from typing import Annotated

from fastapi import APIRouter, Depends, Query

from members_api.models import Unit
from members_api.units import service
from members_api.units.schemas import UnitCreate, UnitRead, UnitUpdate
from services.kit.access import Admin, StaffOrHr
from services.kit.database import SessionDep
from services.kit.idempotency import IdempotencyDep
from services.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/units", tags=["units"])


@router.post("", status_code=201, summary="Register a unit (admin)")
async def create_unit(
    body: UnitCreate,
    session: SessionDep,
    principal: Admin,
    idempotency: IdempotencyDep,
) -> UnitRead:
    unit = await service.create_unit(session, principal, body)
    return await idempotency.remember(201, UnitRead.model_validate(unit))


@router.get("", summary="Units (hr: its own)")
async def list_units(
    session: SessionDep,
    principal: StaffOrHr,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="part of the name")] = None,
) -> Page[UnitRead]:
    rows = await service.list_units(session, principal, page, q)
    return Page[UnitRead](**page.page(rows, [UnitRead.model_validate(u) for u in rows]))


@router.get("/{unit_id}", summary="One unit")
async def get_unit(unit_id: str, session: SessionDep, principal: StaffOrHr) -> UnitRead:
    return UnitRead.model_validate(await service.get_unit(session, principal, unit_id))


async def visible_unit(unit_id: str, session: SessionDep, principal: StaffOrHr) -> Unit:
    """Another unit is 404 to hr, before the route's role is checked."""
    return await service.get_unit(session, principal, unit_id)


VisibleUnit = Annotated[Unit, Depends(visible_unit)]


@router.patch("/{unit_id}", summary="Change or deactivate a unit (admin)")
async def update_unit(
    unit: VisibleUnit, principal: Admin, body: UnitUpdate, session: SessionDep
) -> UnitRead:
    return UnitRead.model_validate(await service.update_unit(session, principal, unit, body))
