from typing import Annotated

from fastapi import APIRouter, Body, Query, Request

from members_api.audit import audit
from members_api.enrollments import service
from members_api.enrollments.schemas import (
    ID_PATTERN,
    EnrollmentCancel,
    EnrollmentCreate,
    EnrollmentRead,
    EnrollmentStatus,
)
from services.auth import PrincipalDep
from services.database import SessionDep
from services.idempotency import IdempotencyDep
from services.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/enrollments", tags=["enrollments"])
IdQuery = Query(pattern=ID_PATTERN)


@router.post("", status_code=201, summary="Enrol a member in a plan (admin; hr: own unit)")
async def create_enrollment(
    body: EnrollmentCreate,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency: IdempotencyDep,
) -> EnrollmentRead:
    enrollment = await service.create_enrollment(session, principal, body)
    read = EnrollmentRead.model_validate(enrollment)
    after = read.model_dump(mode="json")
    after["starts_on_set_by_admin"] = body.starts_on is not None
    await audit.record(
        session,
        principal,
        request,
        action="enrollment.create",
        entity="enrollment",
        entity_id=enrollment.id,
        after=after,
    )
    return await idempotency.remember(201, read)


@router.get("", summary="Enrolments (hr: own unit; member: own)")
async def list_enrollments(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    member_id: Annotated[str | None, IdQuery] = None,
    unit_id: Annotated[str | None, IdQuery] = None,
    plan_code: Annotated[str | None, IdQuery] = None,
    status: EnrollmentStatus | None = None,
) -> Page[EnrollmentRead]:
    where = service.EnrollmentFilter(member_id, unit_id, plan_code, status)
    rows = await service.list_enrollments(session, principal, page, where)
    return Page[EnrollmentRead](**page.page(rows, [EnrollmentRead.model_validate(e) for e in rows]))


@router.get("/{enrollment_id}", summary="One enrolment")
async def get_enrollment(
    enrollment_id: str, session: SessionDep, principal: PrincipalDep
) -> EnrollmentRead:
    enrollment = await service.get_enrollment(session, principal, enrollment_id)
    return EnrollmentRead.model_validate(enrollment)


@router.post("/{enrollment_id}/cancel", summary="Cancel before cover starts (admin)")
async def cancel_enrollment(
    enrollment_id: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    body: Annotated[EnrollmentCancel | None, Body()] = None,
) -> EnrollmentRead:
    enrollment = await service.cancel_enrollment(session, principal, enrollment_id)
    await audit.record(
        session,
        principal,
        request,
        action="enrollment.cancel",
        entity="enrollment",
        entity_id=enrollment.id,
        before={"status": "active"},
        after={"status": "cancelled", "reason": body.reason if body else None},
    )
    return EnrollmentRead.model_validate(enrollment)
