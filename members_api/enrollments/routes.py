from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import WithJsonSchema
from starlette.concurrency import run_in_threadpool

from members_api import problems
from members_api.bulk import MAX_UPLOAD_BYTES, gc_paused, upload_digest
from members_api.enrollments import batch, service
from members_api.enrollments.schemas import (
    ID_PATTERN,
    EnrollmentBatch,
    EnrollmentBatchResult,
    EnrollmentCancel,
    EnrollmentCreate,
    EnrollmentRead,
    EnrollmentStatus,
)
from members_api.enrollments.uploads import read_upload, template
from members_api.models import Enrollment
from services.kit.access import Admin, AdminOrHr, Anyone
from services.kit.database import SessionDep
from services.kit.dates import SCHEME_DATE_PATTERN, SchemeDate
from services.kit.exports import XLSX_TYPE
from services.kit.idempotency import IdempotencyDep, claim_idempotency
from services.kit.openapi import problem_responses
from services.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/enrollments", tags=["enrollments"])
IdQuery = Query(pattern=ID_PATTERN)
# A form field is left out, never null: the document says a date or nothing.
FORM_DATE = WithJsonSchema({"type": "string", "format": "date", "pattern": SCHEME_DATE_PATTERN})


@router.post(
    "",
    status_code=201,
    summary="Enrol a member in a plan (admin; hr: own unit)",
    responses=problem_responses(*problems.ENROLMENT_RULES),
)
async def create_enrollment(
    body: EnrollmentCreate,
    session: SessionDep,
    principal: AdminOrHr,
    idempotency: IdempotencyDep,
) -> EnrollmentRead:
    enrollment = await service.create_enrollment(session, principal, body)
    return await idempotency.remember(201, await service.read_enrollment(session, enrollment))


@router.get("", summary="Enrolments (hr: own unit; member: own)")
async def list_enrollments(
    session: SessionDep,
    principal: Anyone,
    page: PageDep,
    member_id: Annotated[str | None, IdQuery] = None,
    unit_id: Annotated[str | None, IdQuery] = None,
    plan_code: Annotated[str | None, IdQuery] = None,
    status: EnrollmentStatus | None = None,
) -> Page[EnrollmentRead]:
    where = service.EnrollmentFilter(member_id, unit_id, plan_code, status)
    rows = await service.list_enrollments(session, principal, page, where)
    return Page[EnrollmentRead](**page.page(rows, await service.read_enrollments(session, rows)))


_BATCH_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "not admin or hr; hr setting enrolled_on or starts_on"},
    404: {"description": "unknown plan, or a unit the caller may not see"},
    413: {"description": f"body over {MAX_UPLOAD_BYTES} bytes"},
    422: {"description": "unit_inactive, enrolment_closed, starts_on_before_cover, or a bad body"},
}


@router.post(
    "/batch",
    summary="Enrol many workers of a unit (admin; hr: own unit); one result per row",
    response_model=EnrollmentBatchResult,
    responses=problem_responses(*problems.BATCH_REFUSALS, described=_BATCH_ERRORS),
    max_body_size=MAX_UPLOAD_BYTES,
)
async def enrol_batch(
    body: EnrollmentBatch,
    session: SessionDep,
    principal: AdminOrHr,
    idempotency: IdempotencyDep,
) -> Response:
    target = await batch.batch_target(
        session, principal, body.unit_id, body.plan_code, body.enrolled_on, body.starts_on
    )
    rows = list(enumerate(body.rows, start=1))
    with gc_paused():
        answer = await batch.enrol_batch(session, principal, target, rows, {"source": "json"})
    await idempotency.remember_json(200, answer)
    return Response(answer, media_type="application/json")


@router.post(
    "/import",
    summary="Enrol the workers of an uploaded CSV or XLSX list (admin; hr: own unit)",
    description="Columns 身份证号, 姓名, 手机号 (optional), 份数, or national_id, name, phone, "
    "shares; CSV in UTF-8 (BOM or not) or GB18030. Results are numbered by the file's lines "
    "(the header is line 1).",
    response_model=EnrollmentBatchResult,
    responses=problem_responses(
        *problems.BATCH_REFUSALS,
        *problems.UPLOAD_LIMITS,
        described={
            **_BATCH_ERRORS,
            413: {"description": "body, inflated workbook, rows or a line over its limit (code)"},
            415: {"description": "not a CSV or XLSX file; a workbook declaring a DTD"},
            422: {
                "description": "a missing column, a cell or row over its limit (code), or a "
                "refusal of the batch"
            },
        },
    ),
    max_body_size=MAX_UPLOAD_BYTES,
)
async def import_enrollments(
    request: Request,
    session: SessionDep,
    principal: AdminOrHr,
    file: Annotated[UploadFile, File(description="CSV or XLSX")],
    unit_id: Annotated[str, Form(pattern=ID_PATTERN)],
    plan_code: Annotated[str, Form(pattern=ID_PATTERN)],
    enrolled_on: Annotated[
        SchemeDate | None, FORM_DATE, Form(description="admin only; default: today")
    ] = None,
    starts_on: Annotated[SchemeDate | None, FORM_DATE, Form(description="admin only")] = None,
) -> Response:
    fields = {"unit_id": unit_id, "plan_code": plan_code, "filename": file.filename}
    fields |= {"enrolled_on": enrolled_on, "starts_on": starts_on}
    digest = await run_in_threadpool(upload_digest, request, fields, file.file)
    with gc_paused():
        # Read and measured before the first statement: a file refused by a limit, or slow
        # to read, holds no lock (on SQLite the first statement takes the write lock).
        sheet = await run_in_threadpool(read_upload, file.file, file.filename, file.content_type)
        idempotency = await claim_idempotency(request, session, principal, digest)
        target = await batch.batch_target(
            session, principal, unit_id, plan_code, enrolled_on, starts_on
        )
        source = {"source": sheet.format, "filename": file.filename, "encoding": sheet.encoding}
        answer = await batch.enrol_batch(session, principal, target, sheet.rows, source)
    await idempotency.remember_json(200, answer)
    return Response(answer, media_type="application/json")


@router.get(
    "/import-template",
    summary="The list to fill in for an import: Chinese column headers and one example row",
    response_class=Response,
    responses={200: {"content": {XLSX_TYPE: {}, "text/csv": {}}}},
)
async def import_template(
    principal: AdminOrHr, format: Literal["xlsx", "csv"] = "xlsx"
) -> Response:
    return template(format)


@router.get("/{enrollment_id}", summary="One enrolment")
async def get_enrollment(
    enrollment_id: str, session: SessionDep, principal: Anyone
) -> EnrollmentRead:
    enrollment = await service.get_enrollment(session, principal, enrollment_id)
    return await service.read_enrollment(session, enrollment)


async def visible_enrollment(
    enrollment_id: str, session: SessionDep, principal: Anyone
) -> Enrollment:
    """Another unit's or member's enrolment is 404, before the route's role is checked."""
    return await service.get_enrollment(session, principal, enrollment_id)


VisibleEnrollment = Annotated[Enrollment, Depends(visible_enrollment)]


@router.post(
    "/{enrollment_id}/cancel",
    summary="Cancel before cover starts (admin)",
    responses=problem_responses(problems.ALREADY_CANCELLED, problems.COVER_STARTED),
)
async def cancel_enrollment(
    enrollment: VisibleEnrollment,
    principal: Admin,
    session: SessionDep,
    body: Annotated[EnrollmentCancel | None, Body()] = None,
) -> EnrollmentRead:
    reason = body.reason if body else None
    enrollment = await service.cancel_enrollment(session, principal, enrollment, reason)
    return await service.read_enrollment(session, enrollment)
