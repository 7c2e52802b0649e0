from typing import Annotated

from fastapi import APIRouter, Query, Request

from claims_api import problems
from claims_api.audit import audit
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
    request: Request,
    session: SessionDep,
    principal: Finance,
    idempotency: IdempotencyDep,
) -> PayoutBatchRead:
    batch = await service.pay(session, request, principal, body)
    read = await service.read_batch(session, batch)
    await audit.record(
        session,
        principal,
        request,
        action="payout.create",
        entity="payout_batch",
        entity_id=batch.id,
        after={"claims": body.claim_ids, "total": str(read.total)},
    )
    return await idempotency.remember(201, read)


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
    request: Request,
    session: SessionDep,
    principal: Finance,
    idempotency: IdempotencyDep,
) -> PayoutBatchRead:
    batch = await service.reverse(session, request, principal, batch_id, body)
    read = await service.read_batch(session, batch)
    await audit.record(
        session,
        principal,
        request,
        action="payout.reverse",
        entity="payout_batch",
        entity_id=batch.id,
        after={"reason": body.reason, "total": str(read.total)},
    )
    return await idempotency.remember(201, read)
