"""A claim's papers: upload (streamed, never buffered whole), list, read, download, withdraw.

The upload route takes the request's stream itself instead of FastAPI's UploadFile / Form,
which would have Starlette read the whole body first (claims_api.documents.receiving); the
claim is checked first (one that would refuse the upload anyway refuses it before a byte is
read; not for a retry whose Idempotency-Key has its answer stored), then the bytes are received,
a reused key's other bytes refused, the bytes stored with no transaction open, then the key
taken and the row written under the claim's lock, every check made again."""

import json
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from claims_api import problems
from claims_api.documents import service
from claims_api.documents.dependencies import DocumentStoreDep
from claims_api.documents.receiving import (
    ACCEPTED_TYPES,
    MAX_DOCUMENT_BYTES,
    receive_document,
    remove,
)
from claims_api.documents.schemas import DocumentList, DocumentRead, DocumentUploaded
from services.kit.access import DocumentReader, Filer
from services.kit.database import SessionDep
from services.kit.idempotency import idempotency_of, request_digest
from services.kit.openapi import problem_responses

router = APIRouter(prefix="/api/v1/claims/{claim_id}/documents", tags=["claim documents"])
UPLOAD_PATH = r"/api/v1/claims/[^/]+/documents"
"""The upload route's path: exempt from the service's 2 MiB body limit, it checks its own."""
STORAGE = {503: {"description": "The document store is unreachable or refused the bytes"}}
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "kind"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "kind": {"type": "string", "enum": list(service.repository.DOCUMENT_KINDS)},
                },
            }
        }
    },
}


@router.post(
    "",
    status_code=201,
    response_model=DocumentUploaded,
    summary="Upload a paper of a claim (the claim's member, its unit's hr, admin)",
    description=f"Multipart `file` and `kind`. A JPEG, PNG or PDF, told by its bytes; at most "
    f"{MAX_DOCUMENT_BYTES} bytes (10 MiB), refused as the bytes arrive; at most "
    f"{service.MAX_DOCUMENTS_PER_CLAIM} uploads a claim, withdrawn ones included. The upload "
    "that brings the last kind the plan requires moves a claim waiting for its papers on, as "
    "if just filed.",
    openapi_extra={"requestBody": UPLOAD_BODY},
    responses=problem_responses(
        problems.DOCUMENT_TOO_LARGE,
        problems.DOCUMENT_TYPE_REFUSED,
        problems.TOO_MANY_DOCUMENTS,
        problems.INVALID_TRANSITION,
        described={
            400: {"description": "The multipart body could not be read"},
            **STORAGE,
        },
    ),
)
async def upload_document(
    claim_id: str,
    request: Request,
    session: SessionDep,
    principal: Filer,
    store: DocumentStoreDep,
) -> Response:
    idempotency = idempotency_of(request, session, principal)
    if await idempotency.answered():
        # A retry of an upload that was answered: its answer, whatever the claim is now
        # (approved by that very upload, at its 30th), once its bytes are known to be the same.
        await session.rollback()
    else:
        await service.refuse_early(session, principal, claim_id)
    received = await receive_document(request.headers, request.stream())
    try:
        digest = request_digest(request)
        fields = {"kind": received.kind, "filename": received.filename, "sha256": received.sha256}
        digest.update(json.dumps(fields, sort_keys=True).encode())
        request_hash = digest.hexdigest()
        # A key reused for other bytes is refused before they are stored (stored bytes stay);
        # a short read, ended before the store is called.
        await idempotency.refuse_known(request_hash)
        await session.rollback()
        # The bytes are stored before any lock: a slow store never holds a claim.
        await store.put(received.sha256, received.path, received.size)
    finally:
        await remove(received)
    await idempotency.claim(request_hash)
    answer = (await service.upload(session, principal, claim_id, received)).model_dump_json()
    await idempotency.remember_json(201, answer)  # audited by the service, with the row
    return Response(answer, status_code=201, media_type="application/json")


@router.get("", summary="A claim's papers, withdrawn ones marked")
async def list_documents(
    claim_id: str, session: SessionDep, principal: DocumentReader
) -> DocumentList:
    return await service.list_documents(session, principal, claim_id)


@router.get("/{document_id}", summary="One paper's description")
async def get_document(
    claim_id: str, document_id: str, session: SessionDep, principal: DocumentReader
) -> DocumentRead:
    return await service.get_document(session, principal, claim_id, document_id)


@router.get(
    "/{document_id}/content",
    summary="A paper's bytes (audited)",
    response_class=Response,
    responses={200: {"content": {t: {} for t in ACCEPTED_TYPES}}, **STORAGE},
)
async def download_document(
    claim_id: str,
    document_id: str,
    session: SessionDep,
    principal: DocumentReader,
    store: DocumentStoreDep,
) -> Response:
    found = await service.download(session, store, principal, claim_id, document_id)
    document = found.document
    return StreamingResponse(
        found.chunks,
        media_type=document.content_type,
        headers={
            "Content-Length": str(document.size),
            "Content-Disposition": attachment(
                document.filename, document.id, document.content_type
            ),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.post(
    "/{document_id}/withdraw",
    summary="Withdraw a wrong upload (who uploaded it): kept, no longer counted",
    responses=problem_responses(problems.NOT_THE_UPLOADER, problems.INVALID_TRANSITION),
)
async def withdraw_document(
    claim_id: str, document_id: str, session: SessionDep, principal: Filer
) -> DocumentRead:
    return await service.withdraw(session, principal, claim_id, document_id)


EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}


def attachment(filename: str | None, document_id: str, content_type: str) -> str:
    """`attachment` with an ASCII fallback name and the name as given in RFC 5987's
    `filename*` (UTF-8, percent-encoded: no quote or line break can end the header early)."""
    name = filename or f"{document_id}{EXTENSIONS[content_type]}"
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
