"""A claim's papers (DOMAIN.md, "Claim documents"): the upload's row, the claim moving on when
its last required kind arrives, the duplicate flag, withdrawal, reading and downloading.

The bytes are received and stored before this module runs (claims_api.documents.receiving,
the route): here only the request's transaction, which writes the row after the store has the
bytes. Locks, in order: the claim's row, then one row per SHA-256 of its live papers (sorted),
then (when the claim moves on) the member-and-plan lock of a payout decision; nothing takes
them in another order."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.audit import audit
from claims_api.claims import repository as claims_repository
from claims_api.claims import review
from claims_api.claims.service import (
    SYSTEM,
    add_event,
    auto_approves,
    documents_missing_reason,
    get_claim,
    shown_claims,
)
from claims_api.documents import repository
from claims_api.documents.receiving import Received
from claims_api.documents.repository import DOCUMENTS_MISSING, DUPLICATE_DOCUMENT, DocumentState
from claims_api.documents.schemas import DocumentList, DocumentRead, DocumentUploaded
from claims_api.documents.storage import DocumentStore, StorageUnavailable
from claims_api.models import Claim, ClaimDocument
from claims_api.problems import INVALID_TRANSITION, NOT_THE_UPLOADER, TOO_MANY_DOCUMENTS
from services.kit.auth import Principal, same_person
from services.kit.clock import now
from services.kit.errors import NotFound
from services.kit.ids import new_id
from services.kit.plan_rules import PlanTerms

MAX_DOCUMENTS_PER_CLAIM = 30
"""Every upload counts, withdrawn ones too: uploading and withdrawing cannot fill the store."""
UNDECIDED = ("submitted", "pending_review", "needs_info")
ENTITY = "claim_document"


def _refuse_decided(claim: Claim, action: str) -> None:
    if claim.status not in UNDECIDED:
        raise INVALID_TRANSITION.error(
            f"the documents of a {claim.status} claim cannot be {action}; only while it is "
            f"{', '.join(UNDECIDED)}"
        )


async def refuse_early(session: AsyncSession, principal: Principal, claim_id: str) -> None:
    """Before any byte is read: an upload that would be refused anyway (a claim the caller
    cannot see, a decided one, one at its limit) is refused before its bytes reach the store,
    so nobody can fill the store through refused uploads. The transaction ends here, so no
    connection is held while the bytes arrive; `upload` checks all of it again under the
    claim's lock."""
    claim = await get_claim(session, principal, claim_id)
    _refuse_decided(claim, "added to")
    _refuse_over_limit(claim, await repository.documents_of(session, claim.id))
    await session.rollback()


def _refuse_over_limit(claim: Claim, documents: list[ClaimDocument]) -> None:
    if len(documents) >= MAX_DOCUMENTS_PER_CLAIM:
        raise TOO_MANY_DOCUMENTS.error(
            f"claim {claim.id} has had {len(documents)} uploads, the most a claim takes "
            f"(withdrawn ones count)"
        )


async def upload(
    session: AsyncSession, principal: Principal, claim_id: str, received: Received
) -> DocumentUploaded:
    """`received`: the bytes, already in the store under their SHA-256."""
    claim = await get_claim(session, principal, claim_id, for_update=True)
    _refuse_decided(claim, "added to")
    documents = await repository.documents_of(session, claim.id)
    _refuse_over_limit(claim, documents)
    document = ClaimDocument(
        id=new_id("doc"),
        claim_id=claim.id,
        kind=received.kind,
        content_type=received.content_type,
        size=received.size,
        sha256=received.sha256,
        filename=received.filename,
        uploaded_by=principal.sub,
        uploaded_role=principal.role.value,
        uploaded_at=now(),
    )
    live = [d for d in documents if repository.is_live(d)] + [document]
    hashes = {d.sha256 for d in live}
    await repository.lock_hashes(session, hashes)
    session.add(document)
    await session.flush()
    found = await repository.duplicates(session, claim.id, hashes)
    others = sorted({other for sha256, other in found if sha256 == document.sha256})
    if others:
        # No claim id in the reason: the member's side reads it; the ids stay in `details`
        # (claims_api.claims.service.shown_event).
        reason = f"{DUPLICATE_DOCUMENT}: the same {document.kind} is on another live claim"
        details = {"reason_code": DUPLICATE_DOCUMENT, "document_id": document.id, "claims": others}
        add_event(session, claim, principal, claim.status, reason, details)
    after = DocumentRead.model_validate(document).model_dump(mode="json")
    await audit.record(
        session, principal, action="document.upload", entity=ENTITY, entity_id=document.id,
        after=after,
    )  # fmt: skip
    state = DocumentState(
        repository.missing_kinds(repository.required_kinds(claim), {d.kind for d in live}),
        sorted({other for _, other in found}),
    )
    if not state.missing and await repository.waits_for_documents(session, claim):
        await _move_on(session, principal, claim, flagged=bool(state.duplicate_of))
    return DocumentUploaded(
        **after,
        claim_status=claim.status,
        documents_missing=state.missing,
        duplicate_document_claims=await shown_claims(session, principal, state.duplicate_of),
        duplicate_document=bool(state.duplicate_of),
    )


async def _move_on(
    session: AsyncSession, principal: Principal, claim: Claim, flagged: bool
) -> None:
    """The last required paper arrived: the claim goes on as if just filed, assessed again on
    its snapshot against what the enrolment has used by now (under the member's lock), and
    approved automatically when it still qualifies and no paper is on another live claim."""
    decided, facts = await review.reassess(session, claim, None, "facts")
    review.apply_assessment(claim, decided, facts)
    terms = PlanTerms.model_validate(claim.terms_snapshot)
    if decided.refused:
        await claims_repository.release_invoices(session, claim.id)
        reason = "documents complete; automatic checks: " + ", ".join(decided.reason_codes)
        add_event(session, claim, None, "rejected", reason)
    elif flagged:
        reason = f"documents complete; {DUPLICATE_DOCUMENT}: a reviewer decides"
        add_event(session, claim, None, "pending_review", reason)
    elif auto_approves(terms, decided.payable):
        claim.approved_by, claim.approved_at = SYSTEM, now()
        reason = (
            f"documents complete; payout within the plan's auto-approval limit "
            f"{terms.auto_approve_limit}"
        )
        add_event(session, claim, None, "approved", reason)
    else:
        add_event(session, claim, None, "pending_review", "documents complete")
    await review.audit_status(session, principal, claim, "claim.documents_complete", "needs_info")


async def list_documents(
    session: AsyncSession, principal: Principal, claim_id: str
) -> DocumentList:
    claim = await get_claim(session, principal, claim_id)
    documents = await repository.documents_of(session, claim.id)
    state = await repository.state_of(session, claim)
    return DocumentList(
        items=[DocumentRead.model_validate(d) for d in documents],
        documents_missing=state.missing,
        duplicate_document_claims=await shown_claims(session, principal, state.duplicate_of),
        duplicate_document=bool(state.duplicate_of),
    )


async def _document(
    session: AsyncSession, claim: Claim, document_id: str, *, for_update: bool = False
) -> ClaimDocument:
    query = select(ClaimDocument).where(
        ClaimDocument.id == document_id, ClaimDocument.claim_id == claim.id
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    document = await session.scalar(query)
    if document is None:
        raise NotFound(f"document {document_id} not found on claim {claim.id}")
    return document


async def get_document(
    session: AsyncSession, principal: Principal, claim_id: str, document_id: str
) -> DocumentRead:
    claim = await get_claim(session, principal, claim_id)
    return DocumentRead.model_validate(await _document(session, claim, document_id))


async def withdraw(
    session: AsyncSession, principal: Principal, claim_id: str, document_id: str
) -> DocumentRead:
    claim = await get_claim(session, principal, claim_id, for_update=True)
    document = await _document(session, claim, document_id, for_update=True)
    if not same_person(document.uploaded_by, principal.sub):
        raise NOT_THE_UPLOADER.error(f"document {document.id} was uploaded by someone else")
    if document.withdrawn_at is not None:
        raise INVALID_TRANSITION.error(f"document {document.id} is withdrawn already")
    _refuse_decided(claim, "withdrawn")
    # After the claim's row, like an upload: an upload of the same bytes on another claim
    # decides its duplicate flag either before this withdrawal or after it, never midway.
    await repository.lock_hashes(session, {document.sha256})
    document.withdrawn_at, document.withdrawn_by = now(), principal.sub
    await session.flush()
    await audit.record(
        session, principal, action="document.withdraw", entity=ENTITY, entity_id=document.id,
        before={"withdrawn_at": None},
        after={"claim_id": claim.id, "kind": document.kind,
               "withdrawn_at": document.withdrawn_at.isoformat()},
    )  # fmt: skip
    await _wait_if_missing(session, principal, claim)
    return DocumentRead.model_validate(document)


async def _wait_if_missing(session: AsyncSession, principal: Principal, claim: Claim) -> None:
    """A claim in review whose withdrawn paper leaves a required kind missing waits for it in
    needs_info (DOMAIN.md), as if filed without it: the upload that brings it moves it on."""
    if claim.status != "pending_review":
        return
    live = [d for d in await repository.documents_of(session, claim.id) if repository.is_live(d)]
    missing = repository.missing_kinds(repository.required_kinds(claim), {d.kind for d in live})
    if missing:
        details = {"reason_code": DOCUMENTS_MISSING, "documents_missing": missing}
        add_event(session, claim, None, "needs_info", documents_missing_reason(missing), details)
        await review.audit_status(
            session, principal, claim, "claim.documents_missing", "pending_review"
        )


@dataclass
class Download:
    document: DocumentRead
    chunks: AsyncIterator[bytes]


async def download(
    session: AsyncSession,
    store: DocumentStore,
    principal: Principal,
    claim_id: str,
    document_id: str,
) -> Download:
    """The document's bytes from the store, its first chunk read already (a store that fails
    answers 503 before anything is sent, and the audit record is rolled back with it); every
    download is in the audit log (medical papers are sensitive personal information), committed
    before the first byte is sent. Whatever fails once the bytes are opened closes them."""
    claim = await get_claim(session, principal, claim_id)
    document = DocumentRead.model_validate(await _document(session, claim, document_id))
    chunks = store.read(document.sha256)
    try:
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = b""
        except FileNotFoundError:
            raise StorageUnavailable(
                f"the bytes of document {document.id} are not in the document store"
            ) from None
        await audit.record(
            session, principal, action="document.download", entity=ENTITY,
            entity_id=document.id,
            after={"claim_id": claim.id, "kind": document.kind, "sha256": document.sha256,
                   "size": document.size},
        )  # fmt: skip
        # Committed here, not after the route returns: a failing commit still closes the bytes.
        await session.commit()
    except BaseException:
        # The open file or the bucket's body, released now (not by the garbage collector).
        await chunks.aclose()
        raise
    return Download(document, _prepend(first, chunks))


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk
