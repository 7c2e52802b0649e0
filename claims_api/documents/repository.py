"""The queries about a claim's papers: its documents, the kinds it still misses, the same bytes
on another live claim (`duplicate_document`), and the per-hash locks that make that check hold
under concurrent uploads."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.claims import repository as claims_repository
from claims_api.models import Claim, ClaimDocument, ClaimEvent
from services.kit.plan_rules import DOCUMENT_KINDS

DOCUMENTS_MISSING = "documents_missing"
DUPLICATE_DOCUMENT = "duplicate_document"


@dataclass(frozen=True)
class DocumentState:
    """What a claim's papers mean for it: the required kinds it misses (DOMAIN order) and the
    other live claims that hold the same bytes as one of its live documents."""

    missing: list[str]
    duplicate_of: list[str]


def required_kinds(claim: Claim) -> list[str]:
    """From the plan terms snapshotted on the claim (a claim filed before the field: none).
    A claim from settlement data needs none: its facts came from the insurer."""
    if claim.source == "settlement":
        return []
    return list((claim.terms_snapshot or {}).get("required_documents") or [])


def missing_kinds(required: list[str], present: set[str]) -> list[str]:
    return [kind for kind in DOCUMENT_KINDS if kind in required and kind not in present]


def is_live(document: ClaimDocument) -> bool:
    return document.withdrawn_at is None


async def documents_of(session: AsyncSession, claim_id: str) -> list[ClaimDocument]:
    query = (
        select(ClaimDocument)
        .where(ClaimDocument.claim_id == claim_id)
        .order_by(ClaimDocument.uploaded_at, ClaimDocument.id)  # type: ignore[arg-type]
    )
    return list((await session.scalars(query)).all())


_DUPLICATES = (
    select(ClaimDocument.sha256, ClaimDocument.claim_id)
    .join(Claim, Claim.id == ClaimDocument.claim_id)
    .where(
        ClaimDocument.sha256.in_(bindparam("hashes", expanding=True)),  # type: ignore[attr-defined]
        ClaimDocument.withdrawn_at.is_(None),  # type: ignore[union-attr]
        ClaimDocument.claim_id != bindparam("claim_id"),
        Claim.status.in_(claims_repository.LIVE),  # type: ignore[attr-defined]
    )
    .distinct()
)


async def duplicates(
    session: AsyncSession, claim_id: str, hashes: set[str]
) -> list[tuple[str, str]]:
    """(sha256, other claim id) for each of `hashes` also on another live claim, live there."""
    if not hashes:
        return []
    parameters = {"hashes": sorted(hashes), "claim_id": claim_id}
    rows = (await session.execute(_DUPLICATES, parameters)).all()
    return sorted((row.sha256, row.claim_id) for row in rows)


async def state_of(session: AsyncSession, claim: Claim) -> DocumentState:
    live = [d for d in await documents_of(session, claim.id) if is_live(d)]
    missing = missing_kinds(required_kinds(claim), {d.kind for d in live})
    if claim.status not in claims_repository.LIVE:
        return DocumentState(missing, [])  # a rejected or withdrawn claim flags nothing
    found = await duplicates(session, claim.id, {d.sha256 for d in live})
    return DocumentState(missing, sorted({other for _, other in found}))


async def lock_hashes(session: AsyncSession, hashes: set[str]) -> None:
    """One lock row per SHA-256 (`claim_lock`, key `document:<sha256>`), taken in sorted order
    after the claim's row: two claims receiving the same bytes at once queue on the hash, so
    the second sees the first's document and both are flagged. Nothing takes a claim's row
    while holding a hash's lock, so the order cannot deadlock. SQLite: BEGIN IMMEDIATE holds
    the whole database already."""
    for sha256 in sorted(hashes):
        await claims_repository.lock(session, f"document:{sha256}")


_LAST_TRANSITION = (
    select(ClaimEvent.to_status, ClaimEvent.details)
    .where(ClaimEvent.claim_id == bindparam("claim_id"), ClaimEvent.from_status.is_not(None))  # type: ignore[union-attr]
    .order_by(ClaimEvent.id.desc())  # type: ignore[union-attr]
    .limit(1)
)


async def waits_for_documents(session: AsyncSession, claim: Claim) -> bool:
    """The claim is in needs_info because papers were missing (not because a reviewer asked
    for information): the upload that completes them moves it on."""
    if claim.status != "needs_info":
        return False
    row: Any = (await session.execute(_LAST_TRANSITION, {"claim_id": claim.id})).first()
    details = (row.details or {}) if row is not None else {}
    return row is not None and details.get("reason_code") == DOCUMENTS_MISSING
