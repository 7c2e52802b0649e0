from typing import Annotated

from fastapi import APIRouter, Depends, Query

from members_api import problems
from members_api.contributions import service
from members_api.contributions.schemas import (
    ContributionCreate,
    ContributionDetail,
    ContributionRead,
    ReversalCreate,
)
from members_api.enrollments.schemas import ID_PATTERN
from members_api.models import Contribution
from services.kit.access import FinanceOrAdmin, LedgerReaderOrHr
from services.kit.database import SessionDep
from services.kit.idempotency import IdempotencyDep
from services.kit.openapi import problem_responses
from services.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/contributions", tags=["contributions"])
IdQuery = Query(pattern=ID_PATTERN)


@router.post(
    "",
    status_code=201,
    summary="Record a unit's payment for a plan (finance, admin); answers its allocation",
    description="The payment goes to the unit's unpaid enrolments in the plan, oldest first; "
    "what is left is the unit's credit for the plan, which pays its next enrolments.",
    responses=problem_responses(problems.REFERENCE_EXISTS),
)
async def record_payment(
    body: ContributionCreate,
    session: SessionDep,
    principal: FinanceOrAdmin,
    idempotency: IdempotencyDep,
) -> ContributionDetail:
    detail = await service.record_payment(session, principal, body)
    return await idempotency.remember(201, detail)


@router.get("", summary="Payments and reversals (finance, admin, auditor; hr: own unit)")
async def list_contributions(
    session: SessionDep,
    principal: LedgerReaderOrHr,
    page: PageDep,
    unit_id: Annotated[str | None, IdQuery] = None,
    plan_code: Annotated[str | None, IdQuery] = None,
) -> Page[ContributionRead]:
    where = service.ContributionFilter(unit_id, plan_code)
    rows = await service.list_contributions(session, principal, page, where)
    reversed_by = await service.reversals_of(session, [row.id for row in rows])
    items = [service.read(row, reversed_by.get(row.id)) for row in rows]
    return Page[ContributionRead](**page.page(rows, items))


@router.get("/{contribution_id}", summary="One payment or reversal, with its allocations")
async def get_contribution(
    contribution_id: str, session: SessionDep, principal: LedgerReaderOrHr
) -> ContributionDetail:
    contribution = await service.get_contribution(session, principal, contribution_id)
    return await service.detail_of(session, contribution, None)


async def visible_contribution(
    contribution_id: str, session: SessionDep, principal: LedgerReaderOrHr
) -> Contribution:
    """Another unit's payment is 404 to hr, before the route's role is checked."""
    return await service.get_contribution(session, principal, contribution_id)


VisibleContribution = Annotated[Contribution, Depends(visible_contribution)]


@router.post(
    "/{contribution_id}/reversal",
    status_code=201,
    summary="Reverse a mistaken payment (finance, admin); the allocation follows",
    responses=problem_responses(problems.CONTRIBUTION_REVERSED, problems.NOT_A_PAYMENT),
)
async def reverse_payment(
    payment: VisibleContribution,
    body: ReversalCreate,
    session: SessionDep,
    principal: FinanceOrAdmin,
    idempotency: IdempotencyDep,
) -> ContributionDetail:
    detail = await service.reverse_payment(session, principal, payment, body)
    return await idempotency.remember(201, detail)
