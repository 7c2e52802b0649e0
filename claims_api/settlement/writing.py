"""Writing a settlement import's claims at once: the claims, their two events each, their
webhook events (claim.filed, and the status the import gave when it has one:
claims_api.webhooks.outbox), the invoice numbers of the live ones, an audit event per claim;
COPY on Postgres (asyncpg's copy_records_to_table, as the registry's enrolment import),
executemany on SQLite (services.kit.bulk_insert), in the request's transaction.

The rows are made and converted for the driver in a worker thread (`prepare`), off the event
loop; the events of each claim are written in order, `submitted` first, so that their ids,
which order a claim's history, are drawn in that order."""

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Dialect, Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.claims.assessing import Decided
from claims_api.claims.storing import AUDIT_COLUMNS, CLAIM_COLUMNS, EVENT_COLUMNS, NOTICE_COLUMNS
from claims_api.models import Claim, ClaimEvent, ClaimInvoice, WebhookEvent, audit_event
from claims_api.problems import DUPLICATE_INVOICE
from claims_api.settlement.checks import Decision
from claims_api.webhooks.outbox import event_row, filing_payloads, new_event_ids
from services.kit.auth import SYSTEM_ACTOR, Principal
from services.kit.bulk_insert import BulkInsert

INVOICE_COLUMNS = ("claim_id", "plan_code", "invoice_number")
SOURCE = "settlement"


@dataclass(frozen=True)
class ImportContext:
    """What every claim of one import shares."""

    import_id: str
    plan_code: str
    filename: str | None
    principal: Principal
    request_id: str | None
    at: datetime
    filed_on: date


_CLAIM_VALUES = itemgetter(*CLAIM_COLUMNS)
_EVENT_VALUES = itemgetter(*EVENT_COLUMNS)
_AUDIT_VALUES = itemgetter(*AUDIT_COLUMNS)


def _event(
    claim_id: str,
    from_status: str | None,
    to_status: str,
    reason: str | None,
    details: Any,
    context: ImportContext,
) -> tuple[Any, ...]:
    values = {
        "claim_id": claim_id,
        "at": context.at,
        "actor": SYSTEM_ACTOR,
        "role": SYSTEM_ACTOR,
        "from_status": from_status,
        "to_status": to_status,
        "reason": reason,
        "request_id": context.request_id,
        "details": details,
    }
    return _EVENT_VALUES(values)


_NOTICE_VALUES = itemgetter(*NOTICE_COLUMNS)


def _notices(
    claim: dict[str, Any], filed_id: str, decided_id: str, context: ImportContext, as_text: bool
) -> list[tuple[Any, ...]]:
    """The webhook events of a claim filed and decided at once (claim.filed, then its status's
    when it has one), their ids drawn in that order. On Postgres their payloads as JSON text
    (outbox.filing_payloads); elsewhere outbox.event_row's values."""
    at = context.at
    if not as_text:
        moves = (
            event_row(claim, status="submitted", previous_status=None, at=at, event_id=filed_id),
            event_row(
                claim,
                status=claim["status"],
                previous_status="submitted",
                at=at,
                event_id=decided_id,
            ),
        )
        return [_NOTICE_VALUES(notice) for notice in moves if notice is not None]
    rows = []
    for event_id, (event_type, payload) in zip(
        (filed_id, decided_id), filing_payloads(claim, at), strict=False
    ):
        row = {
            "id": event_id,
            "type": event_type,
            "claim_id": claim["id"],
            "unit_id": claim["unit_id"],
            "member_id": claim["member_id"],
            "payload": payload,
            "created_at": at,
            "dispatched_at": None,
        }
        rows.append(_NOTICE_VALUES(row))
    return rows


JSON_CLAIM_COLUMNS = (
    "facts",
    "original_facts",
    "assessment",
    "reason_codes",
    "terms_snapshot",
    "cover_snapshot",
)


@dataclass(frozen=True)
class JsonOf:
    """A claim's JSON column values as the BulkInsert takes them: on Postgres JSON text made
    here (its `converted` columns), a model's by pydantic's own serialiser, measured several
    times faster than a dict of it through json.dumps, and a value claims share made once
    (`shared`); elsewhere the values, which SQLAlchemy converts."""

    text: bool
    shared: dict[Any, Any] = field(default_factory=dict)
    """By plan rules version: its terms (kept across chunks)."""

    def model(self, model: BaseModel) -> Any:
        return model.model_dump_json() if self.text else model.model_dump(mode="json")

    def once(self, key: Any, value: Any) -> Any:
        """`value` (a model, or a plain value) made JSON the first time `key` is seen."""
        made = self.shared.get(key)
        if made is None:
            if isinstance(value, BaseModel):
                made = self.model(value)
            else:
                made = json.dumps(value) if self.text else value
            self.shared[key] = made
        return made

    def assessment(self, decided: Decided) -> Any:
        return decided.read_json() if self.text else decided.read().model_dump(mode="json")

    def codes(self, reason_codes: list[str]) -> Any:
        """A claim's reason codes: on Postgres their JSON text, made once per combination."""
        if not self.text:
            return reason_codes
        return self.once(("reason_codes", *reason_codes), reason_codes)


def _text(value: str | None) -> str:
    """A string as json.dumps writes it (its own encoder, without the call's overhead)."""
    return "null" if value is None else encode_basestring_ascii(value)


@dataclass(frozen=True)
class _Texts:
    """On Postgres, the JSON text of the values an import's claims' rows make alike (a
    submitted event's details, an audit event's `after`): json.dumps's text of them, its
    shared parts made once an import, the rest put in per claim."""

    details_head: str
    details_tail: str
    audit_tail: str

    @classmethod
    def of(cls, context: ImportContext) -> "_Texts":
        shared = {"source": SOURCE, "import_id": context.import_id, "filename": context.filename}
        return cls(
            details_head=json.dumps(shared)[:-1] + ', "row": ',
            details_tail=f', "uploaded_by": {_text(context.principal.sub)}}}',
            audit_tail=f', "source": {_text(SOURCE)}, "import_id": {_text(context.import_id)}}}',
        )

    def details(self, line: int, settlement_number: str | None) -> str:
        number = _text(settlement_number)
        return f'{self.details_head}{line}, "settlement_number": {number}{self.details_tail}'

    def audit_after(self, status: str, payable: str) -> str:
        return f'{{"status": {_text(status)}, "payable": {_text(payable)}{self.audit_tail}'


def records_of(
    decisions: list[Decision], context: ImportContext, json_of: JsonOf | None = None
) -> tuple[list[tuple[Any, ...]], ...]:
    """The rows of the claims, events, webhook events, invoice numbers and audit events, in
    column order. The facts are made JSON once for their two columns."""
    claims, events, notices, invoices, audits = [], [], [], [], []
    notice_ids = iter(new_event_ids(2 * len(decisions)))  # ascending: filed, then decided
    json_of = JsonOf(text=False) if json_of is None else json_of
    texts = _Texts.of(context) if json_of.text else None
    null = json_of.once("null", None)  # the decision's event's details: JSON's null
    for decision in decisions:
        coverage, decided, status = decision.coverage, decision.decided, decision.status
        plan, cover = coverage.plan, coverage.cover
        assert cover is not None
        terms = json_of.once(plan.rules_version, plan.terms)
        facts = json_of.model(decision.facts)
        reason_codes = decided.reason_codes  # a list: the webhook events read it
        approved = status == "approved"
        payable = decided.payable
        claim = {
            "id": decision.claim_id,
            "member_id": cover.member_id,
            "unit_id": cover.unit_id,
            "plan_code": context.plan_code,
            "kind": plan.kind,
            "enrollment_id": cover.enrollment_id,
            "status": status,
            "event_on": decision.facts.event_date,
            "end_on": decision.facts.end_date,
            "filed_on": context.filed_on,
            "facts": facts,
            "original_facts": facts,
            "payable": payable,
            "assessment": json_of.assessment(decided),
            "reason_codes": reason_codes,
            "terms_snapshot": terms,
            "cover_snapshot": json_of.model(cover),
            "rules_version": plan.rules_version,
            "submitted_by": SYSTEM_ACTOR,
            "approved_by": SYSTEM_ACTOR if approved else None,
            "approved_at": context.at if approved else None,
            "paid_on": None,
            "created_at": context.at,
            "updated_at": context.at,
            "source": SOURCE,
            "settlement_number": decision.row.settlement_number,
        }
        notices.extend(_notices(claim, next(notice_ids), next(notice_ids), context, json_of.text))
        claim["reason_codes"] = json_of.codes(reason_codes)  # the webhook events are made
        claims.append(_CLAIM_VALUES(claim))
        details: Any
        if texts is not None:
            details = texts.details(decision.row.line, decision.row.settlement_number)
        else:
            details = {
                "source": SOURCE,
                "import_id": context.import_id,
                "filename": context.filename,
                "row": decision.row.line,
                "settlement_number": decision.row.settlement_number,
                "uploaded_by": context.principal.sub,
            }
        events.append(_event(decision.claim_id, None, "submitted", None, details, context))
        if status == "rejected":
            reason = "automatic checks: " + ", ".join(reason_codes)
        elif approved:
            limit = plan.terms.auto_approve_limit
            reason = f"payout within the plan's auto-approval limit {limit}"
        else:
            reason = None
        events.append(_event(decision.claim_id, "submitted", status, reason, null, context))
        if status != "rejected":
            for number in decision.facts.invoice_numbers:
                invoices.append((decision.claim_id, context.plan_code, number))
        after: Any
        if texts is not None:
            after = texts.audit_after(status, str(payable))
        else:
            after = {
                "status": status,
                "payable": str(payable),
                "source": SOURCE,
                "import_id": context.import_id,
            }
        audit = {
            "id": f"aud_{decision.claim_id[4:]}",
            "at": context.at,
            "actor": context.principal.sub,
            "role": context.principal.role.value,
            "action": "claim.submit",
            "entity": "claim",
            "entity_id": decision.claim_id,
            "request_id": context.request_id,
            "before": None,
            "after": after,
        }
        audits.append(_AUDIT_VALUES(audit))
    return claims, events, notices, invoices, audits


class Writer:
    """The five bulk inserts; `prepare` runs in a worker thread."""

    def __init__(self, dialect: Dialect) -> None:
        claim: Table = Claim.__table__  # type: ignore[attr-defined]
        self.claims = BulkInsert(claim, CLAIM_COLUMNS, dialect, converted=JSON_CLAIM_COLUMNS)
        self.json_of = JsonOf(text=self.claims.copy)
        self.events = BulkInsert(
            ClaimEvent.__table__,  # type: ignore[attr-defined]
            EVENT_COLUMNS,
            dialect,
            converted=("details",),
        )
        self.notices = BulkInsert(
            WebhookEvent.__table__,  # type: ignore[attr-defined]
            NOTICE_COLUMNS,
            dialect,
            converted=("payload",),
        )
        self.invoices = BulkInsert(ClaimInvoice.__table__, INVOICE_COLUMNS, dialect)  # type: ignore[attr-defined]
        self.audits = BulkInsert(audit_event, AUDIT_COLUMNS, dialect, converted=("after",))

    def prepare(self, decisions: list[Decision], context: ImportContext) -> list[list[Any]]:
        claims, events, notices, invoices, audits = records_of(decisions, context, self.json_of)
        return [
            self.claims.prepare(claims),
            self.events.prepare(events),
            self.notices.prepare(notices),
            self.invoices.prepare(invoices),
            self.audits.prepare(audits),
        ]

    async def write(self, session: AsyncSession, prepared: list[list[Any]]) -> None:
        claims, events, notices, invoices, audits = prepared
        try:
            await self.claims.write(session, claims)
            await self.events.write(session, events)
            await self.notices.write(session, notices)
            await self.invoices.write(session, invoices)
        except IntegrityError:
            # A concurrent claim (another member's, not held by this import's locks) took a
            # settlement number meanwhile: nothing of this import is kept.
            raise DUPLICATE_INVOICE.error(
                "a settlement number of this file was just filed in another claim; send the "
                "file again (that row will then be already_filed)"
            ) from None
        await self.audits.write(session, audits)
