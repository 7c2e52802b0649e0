"""Filing and reading claims: the coverage call, the assessment, the automatic decision."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.audit import audit
from claims_api.claims import repository
from claims_api.claims.assessing import (
    Decided,
    decide,
    event_date_of,
    invoices_of,
    parse_facts,
)
from claims_api.claims.schemas import (
    ClaimCreate,
    ClaimEventRead,
    ClaimRead,
    ClaimStatus,
    QuoteRead,
)
from claims_api.claims.storing import CLAIM_COLUMNS, EVENT_COLUMNS, store_filing
from claims_api.coverage_answers import Coverage
from claims_api.documents import repository as documents_repository
from claims_api.documents.repository import (
    DOCUMENTS_MISSING,
    DocumentState,
    missing_kinds,
    required_kinds,
)
from claims_api.engine import ClaimFacts
from claims_api.members_client import MembersClient
from claims_api.models import Claim, ClaimEvent, WebhookEvent
from claims_api.problems import DUPLICATE_INVOICE
from claims_api.webhooks.outbox import Payment, event_row, new_event_ids
from services.kit.auth import SYSTEM_ACTOR, Principal, Role
from services.kit.clock import now, today
from services.kit.errors import NotFound
from services.kit.idempotency import Idempotency
from services.kit.ids import new_id
from services.kit.middleware import current_request_id
from services.kit.pagination import PageParams
from services.kit.plan_rules import PlanTerms

READERS = (Role.admin, Role.reviewer, Role.finance, Role.auditor)
FILERS_SIDE = (Role.member, Role.hr)
"""Who sees a claim's duplicate flag but not the other claims it names (another member's)."""
DERIVED = frozenset(
    {"history", "documents_missing", "duplicate_document_claims", "duplicate_document"}
)
"""ClaimRead's fields that are not the claim's columns."""
SYSTEM = SYSTEM_ACTOR


@dataclass
class Filing:
    coverage: Coverage
    facts: ClaimFacts
    decided: Decided
    filed_on: date

    @property
    def documents_missing(self) -> list[str]:
        """At filing no paper is uploaded yet: every kind the plan requires is missing."""
        return missing_kinds(list(self.coverage.plan.terms.required_documents), set())

    @property
    def status(self) -> ClaimStatus:
        if self.decided.refused:
            return "rejected"
        if self.documents_missing:
            return "needs_info"
        if auto_approves(self.coverage.plan.terms, self.decided.payable):
            return "approved"
        return "pending_review"


def auto_approves(terms: PlanTerms, payable: Decimal) -> bool:
    """A clean claim whose payout is at most the plan's auto-approval limit needs no reviewer."""
    limit = terms.auto_approve_limit
    return limit is not None and 0 < payable <= limit


def documents_missing_reason(missing: list[str]) -> str:
    return f"{DOCUMENTS_MISSING}: the plan requires {', '.join(missing)}"


def _refuse_other_members(principal: Principal, member_id: str) -> None:
    if principal.role == Role.member and principal.member_id != member_id:
        raise NotFound(f"member {member_id} not found")


async def _assess_filing(
    session: AsyncSession,
    client: MembersClient,
    principal: Principal,
    body: ClaimCreate,
    *,
    lock: bool,
) -> Filing:
    _refuse_other_members(principal, body.member_id)
    # The registry is asked before any lock is taken: a slow registry never holds a lock.
    coverage = await client.coverage(
        member_id=body.member_id,
        plan_code=body.plan_code,
        on=event_date_of(body.facts),
        authorization=f"Bearer {principal.bearer_token}",
        request_id=current_request_id(),
    )
    facts = parse_facts(coverage.plan.kind, body.facts)
    if lock:
        await repository.lock_member_plan(session, body.member_id, body.plan_code)
    filed_on = today()
    decided = await decide(
        session,
        terms=coverage.plan.terms,
        cover=coverage.cover,
        facts=facts,
        member_id=body.member_id,
        plan_code=body.plan_code,
        filed_on=filed_on,
        rules_version=coverage.plan.rules_version,
    )
    return Filing(coverage, facts, decided, filed_on)


async def quote(
    session: AsyncSession,
    client: MembersClient,
    principal: Principal,
    body: ClaimCreate,
) -> QuoteRead:
    filing = await _assess_filing(session, client, principal, body, lock=False)
    return QuoteRead(
        member_id=body.member_id,
        plan_code=body.plan_code,
        status_if_filed=filing.status,
        assessment=filing.decided.read(),
    )


def _event(
    claim: Claim,
    principal: Principal | None,
    to_status: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> ClaimEvent:
    """The event of moving `claim` to `to_status`; the claim itself is updated too."""
    at = at or now()
    event = ClaimEvent(
        **event_values(claim.id, principal, claim.status, to_status, reason, details, at)
    )
    claim.status = to_status
    claim.updated_at = at
    return event


def event_values(
    claim_id: str,
    principal: Principal | None,
    from_status: str,
    to_status: str,
    reason: str | None,
    details: dict[str, Any] | None,
    at: datetime,
) -> dict[str, Any]:
    """The columns of a claim's event (for a caller that writes many at once)."""
    return {
        "claim_id": claim_id,
        "at": at,
        "actor": principal.sub if principal else SYSTEM,
        "role": principal.role.value if principal else SYSTEM,
        "from_status": from_status if from_status != to_status else None,
        "to_status": to_status,
        "reason": reason,
        "request_id": current_request_id(),
        "details": details,
    }


def add_event(
    session: AsyncSession,
    claim: Claim,
    principal: Principal | None,
    to_status: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    payment: Payment | None = None,
) -> None:
    """The move in the claim's history and, when subscribers can be told of it, in the
    webhook outbox (claims_api.webhooks.outbox), both in the session's transaction.
    `payment`: the ledger entry a payment's return (paid back to approved) reports."""
    at = at or now()
    previous = claim.status
    session.add(_event(claim, principal, to_status, reason, details, at))
    notice = event_row(claim, status=to_status, previous_status=previous, at=at, payment=payment)
    if notice is not None:
        session.add(WebhookEvent(**notice))


async def submit(
    session: AsyncSession,
    client: MembersClient,
    principal: Principal,
    body: ClaimCreate,
    idempotency: Idempotency,
) -> str:
    """The answer (ClaimRead as JSON), stored with the claim for the Idempotency-Key."""
    filing = await _assess_filing(session, client, principal, body, lock=True)
    return await _store(session, principal, body, filing, idempotency)


async def _store(
    session: AsyncSession,
    principal: Principal,
    body: ClaimCreate,
    filing: Filing,
    idempotency: Idempotency,
) -> str:
    at = now()
    coverage, decided = filing.coverage, filing.decided
    cover = coverage.cover
    claim = Claim(
        id=new_id("clm"),
        member_id=body.member_id,
        unit_id=cover.unit_id if cover else coverage.member.unit_id,
        plan_code=body.plan_code,
        kind=coverage.plan.kind,
        enrollment_id=cover.enrollment_id if cover else None,
        status="submitted",
        event_on=filing.facts.event_date,
        end_on=filing.facts.end_date,
        filed_on=filing.filed_on,
        facts=filing.facts.model_dump(mode="json"),
        original_facts=filing.facts.model_dump(mode="json"),
        payable=decided.payable,
        assessment=decided.read().model_dump(mode="json"),
        reason_codes=decided.reason_codes,
        terms_snapshot=coverage.plan.terms.model_dump(mode="json"),
        cover_snapshot=cover.model_dump(mode="json") if cover else None,
        rules_version=coverage.plan.rules_version,
        submitted_by=principal.sub,
        created_at=at,
        updated_at=at,
    )
    # The claim is built with its final status, both events and its audit event before
    # anything is written (claims_api.claims.storing), without an ORM flush, whose unit-of-work
    # bookkeeping cost more CPU than the writes. Neither joins the session: nothing later in
    # the request changes them.
    events = [_event(claim, principal, "submitted", at=at)]
    # claim.filed, then the filing's decision (none for pending_review), their ids in order
    filed_id, decided_id = new_event_ids(2)
    notices = [event_row(claim, status="submitted", previous_status=None, at=at, event_id=filed_id)]
    status = filing.status
    if status == "rejected":
        reason = "automatic checks: " + ", ".join(decided.reason_codes)
        events.append(_event(claim, None, "rejected", reason, at=at))
    elif status == "approved":
        claim.approved_by, claim.approved_at = SYSTEM, at
        limit = coverage.plan.terms.auto_approve_limit
        reason = f"payout within the plan's auto-approval limit {limit}"
        events.append(_event(claim, None, "approved", reason, at=at))
    elif status == "needs_info":
        # Not a reviewer's request: the upload that brings the last kind moves it on
        # (claims_api.documents.service).
        missing = filing.documents_missing
        details = {"reason_code": DOCUMENTS_MISSING, "documents_missing": missing}
        reason = documents_missing_reason(missing)
        events.append(_event(claim, None, "needs_info", reason, details, at=at))
    else:
        events.append(_event(claim, None, "pending_review", at=at))
    notices.append(
        event_row(claim, status=status, previous_status="submitted", at=at, event_id=decided_id)
    )
    invoices = [] if status == "rejected" else invoices_of(filing.facts)
    audited = audit.row(
        principal,
        action="claim.submit",
        entity="claim",
        entity_id=claim.id,
        after={"status": claim.status, "payable": str(claim.payable)},
        at=at,
    )
    # Nothing in the answer comes from the database: it is kept with the claim, in one write.
    answer = (await read_claim(session, principal, claim, events)).model_dump_json()
    held = await store_filing(
        session,
        {c: getattr(claim, c) for c in CLAIM_COLUMNS},
        [{c: getattr(event, c) for c in EVENT_COLUMNS} for event in events],
        [notice for notice in notices if notice is not None],
        audited,
        invoices,
        idempotency.remembering(201, answer),
    )
    _refuse_unheld(held, invoices)
    return answer


def _refuse_unheld(held: int, invoices: list[str]) -> None:
    """A duplicate (stored, or being stored by a concurrent claim) is a Conflict; the request
    fails with it, so its whole transaction is rolled back: no SAVEPOINT is needed."""
    if held < len(invoices):
        raise DUPLICATE_INVOICE.error("an invoice of this claim was just filed in another claim")


async def hold_invoices(session: AsyncSession, claim: Claim, invoices: list[str]) -> None:
    held = await repository.register_invoices(session, claim.id, claim.plan_code, invoices)
    _refuse_unheld(held, invoices)


def can_see(principal: Principal, claim: Claim) -> bool:
    if principal.role in READERS:
        return True
    if principal.role == Role.hr:
        return claim.unit_id is not None and claim.unit_id == principal.unit_id
    return principal.role == Role.member and claim.member_id == principal.member_id


async def get_claim(
    session: AsyncSession, principal: Principal, claim_id: str, *, for_update: bool = False
) -> Claim:
    query = select(Claim).where(Claim.id == claim_id)
    if for_update:
        # Locked until the request's transaction ends, and read afresh even if this session
        # already holds the claim: a concurrent change committed meanwhile must be seen.
        query = query.with_for_update().execution_options(populate_existing=True)
    claim = await session.scalar(query)
    if claim is None or not can_see(principal, claim):
        raise NotFound(f"claim {claim_id} not found")
    return claim


async def read_claim(
    session: AsyncSession,
    principal: Principal,
    claim: Claim,
    events: list[ClaimEvent] | None = None,
) -> ClaimRead:
    """`events`: the claim's whole history in order when the caller has it (just stored: no
    document is uploaded yet)."""
    if events is None:
        state = await documents_repository.state_of(session, claim)
    else:
        state = DocumentState(missing_kinds(required_kinds(claim), set()), [])
    if events is None:
        events = list(
            (
                await session.scalars(
                    select(ClaimEvent)
                    .where(ClaimEvent.claim_id == claim.id)
                    .order_by(ClaimEvent.id)
                )
            ).all()
        )
    return ClaimRead(
        **{name: getattr(claim, name) for name in ClaimRead.model_fields if name not in DERIVED},
        history=[shown_event(principal, event) for event in events],
        documents_missing=state.missing,
        duplicate_document_claims=await shown_claims(session, principal, state.duplicate_of),
        duplicate_document=bool(state.duplicate_of),
    )


def shown_event(principal: Principal, event: ClaimEvent) -> ClaimEventRead:
    """The event as `principal` may see it: the member's and hr's side never see the other
    claims a duplicate flag names (their ids stay in the details, for the staff)."""
    shown = ClaimEventRead.model_validate(event)
    if principal.role in FILERS_SIDE and shown.details and "claims" in shown.details:
        details = {k: v for k, v in shown.details.items() if k != "claims"}
        shown = shown.model_copy(update={"details": details})
    return shown


async def shown_claims(
    session: AsyncSession, principal: Principal, claim_ids: list[str]
) -> list[str]:
    """Of `claim_ids` (other claims holding the same paper), those `principal` may see: all of
    them for the staff, a member's own and her unit's for the member and hr."""
    if principal.role not in FILERS_SIDE or not claim_ids:
        return claim_ids
    claims = (await session.scalars(select(Claim).where(Claim.id.in_(claim_ids)))).all()  # type: ignore[attr-defined]
    visible = {claim.id for claim in claims if can_see(principal, claim)}
    return [claim_id for claim_id in claim_ids if claim_id in visible]


async def list_claims(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    member_id: str | None,
    unit_id: str | None,
    plan_code: str | None,
    status: str | None,
    source: str | None = None,
) -> list[Claim]:
    query = select(Claim).order_by(Claim.id).limit(page.limit + 1)
    if principal.role == Role.hr:
        query = query.where(Claim.unit_id == principal.unit_id)
    elif principal.role == Role.member:
        query = query.where(Claim.member_id == principal.member_id)
    elif principal.role not in READERS:
        return []
    for column, value in (
        (Claim.member_id, member_id),
        (Claim.unit_id, unit_id),
        (Claim.plan_code, plan_code),
        (Claim.status, status),
        (Claim.source, source),
    ):
        if value is not None:
            query = query.where(column == value)
    if page.after_id:
        query = query.where(Claim.id > page.after_id)
    return list((await session.scalars(query)).all())
