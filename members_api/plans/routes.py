from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from members_api import problems
from members_api.plans import service
from members_api.plans.schemas import CODE_PATTERN, PlanCreate, PlanRead, name_the_fields
from services.kit.access import Admin, Anyone
from services.kit.database import SessionDep
from services.kit.idempotency import IdempotencyDep
from services.kit.openapi import problem_responses
from services.kit.pagination import Page, PageDep


class _NamedFieldsRoute(APIRoute):
    """A refused rule set names the field it is about (schemas.name_the_fields)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise RequestValidationError(name_the_fields(list(exc.errors()))) from None

        return handle


router = APIRouter(prefix="/api/v1/plans", tags=["plans"], route_class=_NamedFieldsRoute)


@router.post(
    "",
    status_code=201,
    summary="Create a plan with its benefit rules (admin)",
    responses=problem_responses(problems.PLAN_EXISTS),
)
async def create_plan(
    body: PlanCreate,
    session: SessionDep,
    principal: Admin,
    idempotency: IdempotencyDep,
) -> PlanRead:
    plan = await service.create_plan(session, principal, body)
    return await idempotency.remember(201, PlanRead.of(plan))


@router.get("", summary="Plans (all roles)")
async def list_plans(
    session: SessionDep,
    principal: Anyone,
    page: PageDep,
    line: Annotated[str | None, Query(pattern=CODE_PATTERN, description="e.g. MED")] = None,
) -> Page[PlanRead]:
    rows = await service.list_plans(session, page, line)
    return Page[PlanRead](**page.page(rows, [PlanRead.of(plan) for plan in rows]))


@router.get("/{code}", summary="One plan and its rules (all roles)")
async def get_plan(code: str, session: SessionDep, principal: Anyone) -> PlanRead:
    return PlanRead.of(await service.get_plan(session, code))
