from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from claims_api import problems
from claims_api.members_client import REGISTRY_PROBLEMS, MembersClientDep
from claims_api.payouts import bank_file, bank_result, service
from claims_api.payouts.schemas import (
    BankResultRead,
    BankStatus,
    PayoutBatchRead,
    PayoutCreate,
    PayoutEntryRead,
    ReversalCreate,
)
from services.kit.access import Finance, LedgerReader
from services.kit.database import SessionDep
from services.kit.dates import SchemeDate
from services.kit.exports import XLSX_TYPE
from services.kit.idempotency import IdempotencyDep, claim_idempotency, upload_digest
from services.kit.memory import gc_paused
from services.kit.openapi import problem_responses
from services.kit.pagination import Page, PageDep
from services.kit.problems import UPLOAD_LIMITS
from services.kit.uploads import sha256_of

router = APIRouter(prefix="/api/v1/payouts", tags=["payouts"])
Filter = Annotated[str | None, Query(max_length=60)]


@router.post(
    "",
    status_code=201,
    response_model=PayoutBatchRead,
    summary="Pay approved claims in one batch (finance)",
    description="Every claim's member must have a payout account (the registry's): the batch "
    "is refused otherwise, `no_payout_account` listing every such claim in `claim_ids`. Each "
    "entry records the account paid to (masked here; in full in the bank file).",
    responses=problem_responses(
        problems.NOT_APPROVED,
        problems.SEPARATION_OF_DUTIES,
        problems.NO_PAYOUT_ACCOUNT,
        described=REGISTRY_PROBLEMS,
    ),
)
async def pay(
    body: PayoutCreate,
    session: SessionDep,
    principal: Finance,
    members: MembersClientDep,
    idempotency: IdempotencyDep,
) -> Response:
    # Serialised once, for the answer and the Idempotency-Key alike (a batch of 10,000
    # entries validated again against the response model cost a second).
    with gc_paused():
        answer = (await service.pay(session, members, principal, body)).model_dump_json()
    await idempotency.remember_json(201, answer)
    return Response(answer, status_code=201, media_type="application/json")


@router.get("", summary="The payment ledger, filtered (finance, auditor, admin)")
async def ledger(
    session: SessionDep,
    principal: LedgerReader,
    page: PageDep,
    plan_code: Filter = None,
    unit_id: Filter = None,
    paid_from: SchemeDate | None = None,
    paid_to: SchemeDate | None = None,
    bank_status: BankStatus | None = None,
) -> Page[PayoutEntryRead]:
    rows = await service.ledger(
        session,
        principal,
        page,
        plan_code=plan_code,
        unit_id=unit_id,
        paid_from=paid_from,
        paid_to=paid_to,
        bank_status=bank_status,
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


@router.get(
    "/{batch_id}/bank-file",
    summary="The batch's disbursement file for the bank, 代发文件 (finance; audited)",
    description="序号, 户名, 账号 (in full), 开户行, 金额, 用途: one line per standing payment, "
    "then 合计 with the number of lines and the total. CSV in GB18030 with CRLF line endings, "
    "or XLSX.",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}, XLSX_TYPE: {}}},
        **problem_responses(problems.BANK_FILE_EMPTY),
    },
)
async def get_bank_file(
    batch_id: str,
    session: SessionDep,
    principal: Finance,
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    with gc_paused():
        made = await bank_file.bank_file(session, principal, batch_id, format)
    return Response(
        made.content,
        media_type=made.media_type,
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"'},
    )


@router.post(
    "/{batch_id}/bank-result",
    response_model=BankResultRead,
    summary="The bank's result file: settles the successes, returns the failures (finance)",
    description="Multipart `file`: CSV (GB18030 or UTF-8) or XLSX with the columns 序号 or 账号 "
    "(or both), 金额, 状态 (成功 or 失败), 失败原因. One result per line: `settled`, `returned` "
    "(a negative entry, the claim back to approved), `unchanged` (the payment had the bank's "
    "answer already: sending a file again changes nothing), `unmatched` (no payment of the "
    "batch, or another amount), `error`.",
    responses=problem_responses(
        *UPLOAD_LIMITS,
        described={
            413: {"description": "body, inflated workbook, lines or a line over its limit"},
            415: {"description": "not a CSV or XLSX file; a workbook declaring a DTD"},
            422: {"description": "a missing column, a cell or row over its limit (code)"},
        },
    ),
)
async def post_bank_result(
    batch_id: str,
    request: Request,
    session: SessionDep,
    principal: Finance,
    file: Annotated[UploadFile, File(description="CSV or XLSX")],
) -> Response:
    fields = {"filename": file.filename}
    digest = await run_in_threadpool(upload_digest, request, fields, file.file)
    with gc_paused():
        # Read and measured before the first statement: a refused or slow file holds no lock.
        table = await run_in_threadpool(
            bank_result.read_result, file.file, file.filename, file.content_type
        )
        idempotency = await claim_idempotency(request, session, principal, digest)
        sha256 = await run_in_threadpool(sha256_of, file.file)
        source = {"filename": file.filename, "sha256": sha256}
        answer = await bank_result.apply_result(session, principal, batch_id, table, source)
        body = answer.model_dump_json()  # once, for the answer and the Idempotency-Key alike
    await idempotency.remember_json(200, body)
    return Response(body, media_type="application/json")
