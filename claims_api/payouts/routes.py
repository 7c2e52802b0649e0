from typing import Annotated

from fastapi import APIRouter, Query

from claims_api import problems
from claims_api.payouts import service
from claims_api.payouts.schemas import (
    PayoutBatchRead,
    PayoutCreate,
    PayoutEntryRead,
    ReversalCreate,
)
from services.kit.access import Finance, LedgerReader
from services.kit.database import SessionDep
from services.kit.dates import SchemeDate
from services.kit.idempotency import IdempotencyDep
from services.kit.openapi import problem_responses
from services.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/payouts", tags=["payouts"])
Filter = Annotated[str | None, Query(max_length=60)]


@router.post(
    "",
    status_code=201,
    summary="Pay approved claims in one batch (finance)",
    responses=problem_responses(problems.NOT_APPROVED, problems.SEPARATION_OF_DUTIES),
)
async def pay(
    body: PayoutCreate,
    session: SessionDep,
    principal: Finance,
    idempotency: IdempotencyDep,
) -> PayoutBatchRead:
    return await idempotency.remember(201, await service.pay(session, principal, body))


@router.get("", summary="The payment ledger, filtered (finance, auditor, admin)")
async def ledger(
    session: SessionDep,
    principal: LedgerReader,
    page: PageDep,
    plan_code: Filter = None,
    unit_id: Filter = None,
    paid_from: SchemeDate | None = None,
    paid_to: SchemeDate | None = None,
) -> Page[PayoutEntryRead]:
    rows = await service.ledger(
        session,
        principal,
        page,
        plan_code=plan_code,
        unit_id=unit_id,
        paid_from=paid_from,
        paid_to=paid_to,
    )
    return Page[PayoutEntryRead](
        **page.page(rows, [PayoutEntryRead.model_validate(e) for e in rows])
    )


@router.get("/{batch_id}", summary="One payment batch with its entries")
async def get_batch(batch_id: str, session: SessionDep, principal: LedgerReader) -> PayoutBatchRead:
    return await service.read_batch(session, await service.get_batch(session, principal, batch_id))


@router.post(
    "/{batch_id}/reversal",
    status_code=201,
    summary="Reverse bounced payments (finance)",
    responses=problem_responses(problems.ALREADY_REVERSED, problems.NOT_IN_BATCH),
)
async def reverse(
    batch_id: str,
    body: ReversalCreate,
    session: SessionDep,
    principal: Finance,
    idempotency: IdempotencyDep,
) -> PayoutBatchRead:
    read = await service.reverse(session, principal, batch_id, body)
    return await idempotency.remember(201, read)
