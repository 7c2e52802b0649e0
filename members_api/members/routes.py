from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from members_api import problems
from members_api.bulk import MAX_UPLOAD_BYTES, gc_paused
from members_api.members import leaving, service
from members_api.members.schemas import (
    ID_PATTERN,
    LeavingResult,
    MemberCreate,
    MemberRead,
    MembersLeaving,
    MemberUpdate,
    Status,
)
from members_api.models import Member
from services.kit.access import AdminOrHr, Anyone
from services.kit.database import SessionDep
from services.kit.idempotency import IdempotencyDep
from services.kit.openapi import problem_responses
from services.kit.pagination import Page, PageDep
from services.kit.text import NO_CONTROL_CHARACTERS

router = APIRouter(prefix="/api/v1/members", tags=["members"])


@router.post(
    "",
    status_code=201,
    summary="Register a worker (admin; hr: its own unit)",
    responses=problem_responses(problems.UNIT_INACTIVE, problems.MEMBER_EXISTS),
)
async def create_member(
    body: MemberCreate,
    session: SessionDep,
    principal: AdminOrHr,
    idempotency: IdempotencyDep,
) -> MemberRead:
    member = await service.create_member(session, principal, body)
    return await idempotency.remember(201, service.member_read(principal, member))


@router.post(
    "/leaving",
    summary="Workers leaving, in bulk (admin; hr: its unit); one result per row",
    response_model=LeavingResult,
    max_body_size=MAX_UPLOAD_BYTES,
)
async def members_leave(
    body: MembersLeaving,
    session: SessionDep,
    principal: AdminOrHr,
    idempotency: IdempotencyDep,
) -> Response:
    with gc_paused():
        rows = await run_in_threadpool(leaving.check_rows, enumerate(body.rows, start=1))
        answer = await leaving.members_leave(session, principal, rows)
    await idempotency.remember_json(200, answer)
    return Response(answer, media_type="application/json")


@router.get("", summary="Workers (hr: its unit; member: itself)")
async def list_members(
    session: SessionDep,
    principal: Anyone,
    page: PageDep,
    unit_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=NO_CONTROL_CHARACTERS,
            description="part of the name, the full identity number or the phone",
        ),
    ] = None,
    status: Status | None = None,
) -> Page[MemberRead]:
    rows = await service.list_members(session, principal, page, unit_id=unit_id, q=q, status=status)
    items = [service.member_read(principal, m) for m in rows]
    return Page[MemberRead](**page.page(rows, items))


@router.get("/{member_id}", summary="One worker")
async def get_member(member_id: str, session: SessionDep, principal: Anyone) -> MemberRead:
    member = await service.get_member(session, principal, member_id)
    return service.member_read(principal, member)


async def visible_member(member_id: str, session: SessionDep, principal: Anyone) -> Member:
    """Another unit's or member's worker is 404, before the route's role is checked."""
    return await service.get_member(session, principal, member_id)


VisibleMember = Annotated[Member, Depends(visible_member)]


@router.patch(
    "/{member_id}",
    summary="Change a worker or record leaving (admin; hr: its unit)",
    responses=problem_responses(problems.UNIT_INACTIVE),
)
async def update_member(
    member: VisibleMember,
    principal: AdminOrHr,
    body: MemberUpdate,
    session: SessionDep,
) -> MemberRead:
    member = await service.update_member(session, principal, member, body)
    return service.member_read(principal, member)
