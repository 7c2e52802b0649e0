import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from claims_api import problems
from claims_api.members_client import REGISTRY_PROBLEMS, MembersClientDep
from claims_api.settlement import service
from claims_api.settlement.parsing import MAX_ROWS, MAX_UPLOAD_BYTES, read_settlement
from claims_api.settlement.results import sheet_response
from claims_api.settlement.schemas import SettlementImportRead
from services.kit.access import Admin
from services.kit.database import SessionDep
from services.kit.exports import XLSX_TYPE, ExportFormat
from services.kit.idempotency import StoredResponse, idempotency_of, upload_digest
from services.kit.memory import gc_paused
from services.kit.openapi import problem_responses
from services.kit.problems import UPLOAD_LIMITS
from services.kit.uploads import sha256_of

router = APIRouter(prefix="/api/v1/claims", tags=["claims"])
IMPORT_PATH = "/api/v1/claims/import"
"""Exempt from the service's 2 MiB body limit: its own is MAX_UPLOAD_BYTES."""
PLAN_CODE = r"^[A-Za-z0-9_-]{1,40}$"


@router.post(
    "/import",
    response_model=SettlementImportRead,
    summary="File claims from the insurer's settlement data, one a row (admin); ?format=csv|xlsx",
    description="Multipart `file` (CSV in UTF-8, with or without BOM, or GB18030, comma or tab "
    "separated; or XLSX) with the columns 身份证号, 姓名, 医疗机构, 入院日期, 出院日期, 诊断编码, "
    "结算单号, 医疗总费用, 统筹支付, 政策范围内自付, 自费 (or national_id, name, hospital, "
    "admitted_on, discharged_on, diagnosis_codes, settlement_number, total_cost, "
    "insurance_paid, out_of_pocket_in_policy, self_pay); `plan_code`; `dry_run` (stores "
    f"nothing, answers the same). At most {MAX_ROWS} rows and {MAX_UPLOAD_BYTES} bytes. Each "
    "row is filed by the system on the member's behalf with every check of a single claim "
    "(`source: settlement`, no documents required), a member's rows in order of admission.",
    responses={
        200: {"content": {"text/csv": {}, XLSX_TYPE: {}}},
        **problem_responses(
            problems.SETTLEMENT_PLAN_KIND,
            problems.PLAN_CHANGED,
            problems.DUPLICATE_INVOICE,
            *UPLOAD_LIMITS,
            described={
                **REGISTRY_PROBLEMS,
                404: {"description": "unknown plan"},
                413: {"description": "body, inflated workbook, rows or a line over its limit"},
                415: {"description": "not a CSV or XLSX file; a workbook declaring a DTD"},
                422: {"description": "a missing column, a cell or row over its limit (code)"},
            },
        ),
    },
    max_body_size=MAX_UPLOAD_BYTES,
)
async def import_settlement(
    request: Request,
    session: SessionDep,
    principal: Admin,
    members: MembersClientDep,
    file: Annotated[UploadFile, File(description="CSV or XLSX")],
    plan_code: Annotated[str, Form(pattern=PLAN_CODE)],
    dry_run: Annotated[bool, Form()] = False,
    format: Annotated[ExportFormat, Query()] = "json",
) -> Response:
    fields = {"plan_code": plan_code, "dry_run": dry_run, "filename": file.filename}
    digest = await run_in_threadpool(upload_digest, request, fields, file.file, ("format",))
    idempotency = None
    if not dry_run:  # a dry run creates nothing
        # A retry of an import already answered is answered before its file is read again
        # or the registry asked (in the form it asks for now); one still running is a 409.
        idempotency = idempotency_of(request, session, principal)
        try:
            await idempotency.refuse_known(digest)
        except StoredResponse as stored:
            return _answer(stored.body, format, replayed=True)
        finally:
            # a short read, ended before the file is read: SQLite's transactions take the
            # write lock from their first statement, and no lock is held while parsing
            await session.rollback()
    plan = await service.settled_plan(members, principal, plan_code)
    with gc_paused():
        # Read and measured, then the registry asked, before the work's first statement: a
        # refused or slow file, or a slow registry, holds no lock.
        table = await run_in_threadpool(
            read_settlement, file.file, file.filename, file.content_type
        )
        chunk = request.app.state.settings.settlement_lookup_chunk
        prepared = await service.look_up(members, principal, plan, table, chunk)
        if idempotency is not None:
            try:  # a twin request may have finished meanwhile: its answer, not a second import
                await idempotency.claim(digest)
            except StoredResponse as stored:
                return _answer(stored.body, format, replayed=True)
        sha256 = await run_in_threadpool(sha256_of, file.file)
        source = {"filename": file.filename, "sha256": sha256}
        answer = await service.apply(session, principal, prepared, dry_run=dry_run, source=source)
    if idempotency is not None:
        await idempotency.remember_json(200, answer)
    return _answer(answer, format)


def _answer(body: str, format: ExportFormat, *, replayed: bool = False) -> Response:
    """The import's answer, JSON or a sheet; a replayed one says so (Idempotent-Replayed)."""
    response = (
        Response(body, media_type="application/json")
        if format == "json"
        else sheet_response(json.loads(body), format)
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
