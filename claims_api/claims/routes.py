from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from claims_api import problems
from claims_api.claims import review, service
from claims_api.claims.schemas import (
    ClaimCreate,
    ClaimRead,
    ClaimSource,
    ClaimStatus,
    ClaimSummary,
    DecisionCreate,
    QuoteRead,
    SupplementCreate,
    WithdrawCreate,
)
from claims_api.members_client import REGISTRY_PROBLEMS, MembersClientDep
from claims_api.models import Claim
from services.kit.access import Anyone, Filer, Reviewer
from services.kit.database import SessionDep
from services.kit.idempotency import IdempotencyDep
from services.kit.openapi import problem_responses
from services.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/claims", tags=["claims"])


async def claim_for_update(claim_id: str, session: SessionDep, principal: Anyone) -> Claim:
    """The claim, locked for the change; another unit's or member's is 404 (before the
    route's role is checked: services.kit.access)."""
    return await service.get_claim(session, principal, claim_id, for_update=True)


ClaimForUpdate = Annotated[Claim, Depends(claim_for_update)]
Filter = Annotated[str | None, Query(max_length=60)]


@router.post(
    "/quote", summary="Assess a claim without saving anything", responses=REGISTRY_PROBLEMS
)
async def quote_claim(
    body: ClaimCreate,
    session: SessionDep,
    principal: Filer,
    members: MembersClientDep,
) -> QuoteRead:
    return await service.quote(session, members, principal, body)


# The answer is serialised once, for the response and the Idempotency-Key's record alike:
# returned as a model, FastAPI would validate it against the response model again (the hot
# path of claim filing). response_model keeps the documented schema.
@router.post(
    "",
    status_code=201,
    response_model=ClaimRead,
    summary="File a claim (member for itself, hr, admin)",
    responses=problem_responses(problems.DUPLICATE_INVOICE, described=REGISTRY_PROBLEMS),
)
async def submit_claim(
    body: ClaimCreate,
    session: SessionDep,
    principal: Filer,
    members: MembersClientDep,
    idempotency: IdempotencyDep,
) -> Response:
    # audited and kept for the Idempotency-Key with the claim (claims_api.claims.storing)
    answer = await service.submit(session, members, principal, body, idempotency)
    return Response(content=answer, status_code=201, media_type="application/json")


@router.get("", summary="Claims visible to the caller, filtered")
async def list_claims(
    session: SessionDep,
    principal: Anyone,
    page: PageDep,
    member_id: Filter = None,
    unit_id: Filter = None,
    plan_code: Filter = None,
    status: ClaimStatus | None = None,
    source: ClaimSource | None = None,
) -> Page[ClaimSummary]:
    rows = await service.list_claims(
        session,
        principal,
        page,
        member_id=member_id,
        unit_id=unit_id,
        plan_code=plan_code,
        status=status,
        source=source,
    )
    return Page[ClaimSummary](**page.page(rows, [ClaimSummary.model_validate(c) for c in rows]))


@router.get("/{claim_id}", summary="One claim with its assessment and history")
async def get_claim(claim_id: str, session: SessionDep, principal: Anyone) -> ClaimRead:
    claim = await service.get_claim(session, principal, claim_id)
    return await service.read_claim(session, principal, claim)


@router.post(
    "/{claim_id}/decision",
    summary="Approve, reject, ask for information, reopen",
    responses=problem_responses(
        problems.INVALID_TRANSITION,
        problems.SEPARATION_OF_DUTIES,
        problems.DUPLICATE_INVOICE,
        problems.DOCUMENTS_MISSING,
        *problems.NOT_PAYABLE.values(),
    ),
)
async def decide_claim(
    claim: ClaimForUpdate,
    principal: Reviewer,
    body: DecisionCreate,
    session: SessionDep,
) -> ClaimRead:
    claim = await review.decide_claim(session, principal, claim, body)
    return await service.read_claim(session, principal, claim)


@router.post(
    "/{claim_id}/supplement",
    summary="Supply the information a reviewer asked for",
    responses=problem_responses(
        problems.INVALID_TRANSITION, problems.DUPLICATE_INVOICE, problems.DOCUMENTS_MISSING
    ),
)
async def supplement_claim(
    claim: ClaimForUpdate,
    principal: Filer,
    body: SupplementCreate,
    session: SessionDep,
) -> ClaimRead:
    claim = await review.supplement(session, principal, claim, body)
    return await service.read_claim(session, principal, claim)


@router.post(
    "/{claim_id}/withdraw",
    summary="Withdraw a claim before approval",
    responses=problem_responses(problems.INVALID_TRANSITION),
)
async def withdraw_claim(
    claim: ClaimForUpdate,
    principal: Filer,
    body: WithdrawCreate,
    session: SessionDep,
) -> ClaimRead:
    claim = await review.withdraw(session, principal, claim, body)
    return await service.read_claim(session, principal, claim)
