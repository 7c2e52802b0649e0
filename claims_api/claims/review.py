"""A claim's life after filing: the reviewer's decisions, information supplied, withdrawal.

Every change is a new row in the claim's history. Each change locks the claim's row before it
checks the claim's state, so two concurrent changes of one claim happen one after the other
(the second sees the first's outcome). Approval re-runs the engine on the claim's snapshotted
rules and cover against what the enrolment has used by now, under the member's lock, so that
concurrent approvals of different claims never pay past a cap."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.audit import audit
from claims_api.claims import repository
from claims_api.claims.assessing import Decided, decide, invoices_of, parse_facts
from claims_api.claims.schemas import DecisionCreate, SupplementCreate, WithdrawCreate
from claims_api.claims.service import add_event, documents_missing_reason, hold_invoices
from claims_api.documents import repository as documents_repository
from claims_api.models import Claim
from claims_api.problems import (
    DOCUMENTS_MISSING,
    INVALID_TRANSITION,
    SEPARATION_OF_DUTIES,
    not_payable,
)
from services.kit.auth import Principal, same_person
from services.kit.clock import now
from services.kit.errors import InvalidInput
from services.kit.plan_rules import EnrollmentCover, PlanTerms

BEFORE_APPROVAL = ("submitted", "pending_review", "needs_info")
ALLOWED_FROM = {
    "approve": ("pending_review",),
    "reject": ("pending_review", "needs_info"),
    "request_info": ("pending_review",),
    "reopen": ("rejected",),
}


def _refuse_transition(claim: Claim, action: str, allowed: tuple[str, ...]) -> None:
    if claim.status not in allowed:
        raise INVALID_TRANSITION.error(
            f"a {claim.status} claim cannot be {action}; only a claim that is "
            f"{' or '.join(allowed)} can"
        )


async def reassess(
    session: AsyncSession, claim: Claim, facts_changes: dict[str, Any] | None, where: str
) -> tuple[Decided, Any]:
    """Recompute from the snapshot: the rules and cover as they were when the claim was filed."""
    raw = {**claim.facts, **(facts_changes or {})}
    terms = PlanTerms.model_validate(claim.terms_snapshot)
    facts = parse_facts(claim.kind, raw, where=where)
    if facts.event_date != claim.event_on:
        raise InvalidInput(
            [where, "admitted_on" if claim.kind != "fixed_benefit" else "diagnosed_on"],
            "the event date decides which enrolment covers the claim: file a new claim instead",
        )
    cover = EnrollmentCover.model_validate(claim.cover_snapshot) if claim.cover_snapshot else None
    await repository.lock_member_plan(session, claim.member_id, claim.plan_code)
    decided = await decide(
        session,
        terms=terms,
        cover=cover,
        facts=facts,
        member_id=claim.member_id,
        plan_code=claim.plan_code,
        filed_on=claim.filed_on,
        rules_version=claim.rules_version,
        claim_id=claim.id,
    )
    return decided, facts


def apply_assessment(claim: Claim, decided: Decided, facts: Any) -> None:
    claim.facts = facts.model_dump(mode="json")
    claim.end_on = facts.end_date
    claim.payable = decided.payable
    claim.assessment = decided.read().model_dump(mode="json")
    claim.reason_codes = decided.reason_codes


async def _replace_invoices(session: AsyncSession, claim: Claim, facts: Any) -> None:
    await repository.release_invoices(session, claim.id)
    await hold_invoices(session, claim, invoices_of(facts))


async def decide_claim(
    session: AsyncSession,
    principal: Principal,
    claim: Claim,
    body: DecisionCreate,
) -> Claim:
    """`claim`: looked up and locked by the route first (`claim_for_update`)."""
    before = claim.status
    _refuse_transition(claim, body.decision, ALLOWED_FROM[body.decision])
    if body.decision != "approve" and not body.reason:
        raise InvalidInput(["reason"], f"a reason is required to {body.decision}")
    if body.adjusted_facts and body.decision not in ("approve", "reopen"):
        raise InvalidInput(["adjusted_facts"], "facts can be adjusted when approving or reopening")

    if body.decision == "approve" and same_person(claim.submitted_by, principal.sub):
        raise SEPARATION_OF_DUTIES.error(
            f"claim {claim.id} was filed by you: another person must approve it",
            claim_id=claim.id,
        )
    if body.decision == "approve":
        await refuse_missing_documents(session, claim, "approved")
    if body.decision in ("approve", "reopen"):
        decided, facts = await reassess(session, claim, body.adjusted_facts, "adjusted_facts")
        details = {"adjusted_facts": body.adjusted_facts} if body.adjusted_facts else None
        if body.decision == "approve" and decided.refused:
            raise not_payable(decided.reason_codes).error(
                "the claim is not payable now: " + ", ".join(decided.reason_codes),
                reason_codes=decided.reason_codes,
            )
        apply_assessment(claim, decided, facts)
        await _replace_invoices(session, claim, facts)
        if body.decision == "approve":
            claim.approved_by, claim.approved_at = principal.sub, now()
            add_event(session, claim, principal, "approved", body.reason, details)
        else:
            await _reopen(session, principal, claim, body.reason, details)
    elif body.decision == "reject":
        await repository.release_invoices(session, claim.id)
        add_event(session, claim, principal, "rejected", body.reason)
    else:
        add_event(session, claim, principal, "needs_info", body.reason)
    await audit_status(session, principal, claim, f"claim.{body.decision}", before)
    return claim


async def _reopen(
    session: AsyncSession,
    principal: Principal,
    claim: Claim,
    reason: str | None,
    details: dict[str, Any] | None,
) -> None:
    """Back to review, as filing would send it: to needs_info (documents_missing) while a kind
    the plan requires is missing, so the upload that brings the last one moves it on."""
    missing = (await documents_repository.state_of(session, claim)).missing
    if not missing:
        add_event(session, claim, principal, "pending_review", reason, details)
        return
    waiting = {
        **(details or {}),
        "reason_code": documents_repository.DOCUMENTS_MISSING,
        "documents_missing": missing,
    }
    reason = f"{documents_missing_reason(missing)}; reopened: {reason}"
    add_event(session, claim, principal, "needs_info", reason, waiting)


async def supplement(
    session: AsyncSession,
    principal: Principal,
    claim: Claim,
    body: SupplementCreate,
) -> Claim:
    _refuse_transition(claim, "supplemented", ("needs_info",))
    await refuse_missing_documents(session, claim, "sent to review")
    decided, facts = await reassess(session, claim, body.facts, "facts")
    apply_assessment(claim, decided, facts)
    await _replace_invoices(session, claim, facts)
    details = {"facts": body.facts} if body.facts else None
    add_event(session, claim, principal, "pending_review", body.note, details)
    await audit_status(session, principal, claim, "claim.supplement", "needs_info")
    return claim


async def withdraw(
    session: AsyncSession,
    principal: Principal,
    claim: Claim,
    body: WithdrawCreate,
) -> Claim:
    before = claim.status
    _refuse_transition(claim, "withdrawn", BEFORE_APPROVAL)
    await repository.release_invoices(session, claim.id)
    add_event(session, claim, principal, "withdrawn", body.reason)
    await audit_status(session, principal, claim, "claim.withdraw", before)
    return claim


async def refuse_missing_documents(session: AsyncSession, claim: Claim, action: str) -> None:
    """DOMAIN.md: a claim with a required document kind missing is not approved (nor sent back
    to review: it waits in needs_info until the papers arrive)."""
    missing = (await documents_repository.state_of(session, claim)).missing
    if missing:
        raise DOCUMENTS_MISSING.error(
            f"claim {claim.id} cannot be {action}: the plan requires {', '.join(missing)}",
            documents_missing=missing,
        )


async def audit_status(
    session: AsyncSession, principal: Principal, claim: Claim, action: str, before: str
) -> None:
    await session.flush()
    await audit.record(
        session,
        principal,
        action=action,
        entity="claim",
        entity_id=claim.id,
        before={"status": before},
        after={"status": claim.status, "payable": str(claim.payable)},
    )
