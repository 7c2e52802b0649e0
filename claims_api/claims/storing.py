"""Writing a filed claim: the claim, its two events, its webhook events (the outbox,
claims_api.webhooks.outbox: claim.filed, and claim.approved, .rejected or .needs_info when the
filing decided so), its audit event, its invoice numbers and the answer kept for its
Idempotency-Key.

Postgres: one statement, the INSERTs and the UPDATE as data-modifying CTEs (executed once and
to the end whether or not the outer query reads them; the foreign keys of the events and
invoices to the claim are checked at the end of the statement, when the claim is there). A
claim cost about 0.2 ms of the service's CPU per statement (README: performance), so one
instead of five. SQLite: one statement each, in the same transaction.

Both answer how many invoice numbers were held: fewer than asked means a concurrent claim holds
one (usage.register_invoices), and the request fails and is rolled back."""

from functools import cache
from typing import Any

from sqlalchemy import ARRAY, String, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.claims import repository
from claims_api.models import Claim, ClaimEvent, ClaimInvoice, WebhookEvent, audit_event

CLAIM_COLUMNS = tuple(column.key for column in Claim.__table__.columns)
EVENT_COLUMNS = tuple(c.key for c in ClaimEvent.__table__.columns if c.key != "id")
AUDIT_COLUMNS = tuple(column.key for column in audit_event.columns)
NOTICE_COLUMNS = tuple(column.key for column in WebhookEvent.__table__.columns)
_INSERT_CLAIM, _INSERT_EVENTS, _INSERT_NOTICES, _INSERT_AUDIT = (
    insert(Claim),
    insert(ClaimEvent),
    insert(WebhookEvent),
    insert(audit_event),
)


@cache
def _one_statement(event_count: int, notice_count: int, remember: Any = None) -> Any:
    """Built once per number of events (a filing has two), of webhook events (one or two)
    and answer-keeping UPDATE (the service's idempotency table's, or none)."""
    claim = insert(Claim).values({c: bindparam(f"claim_{c}") for c in CLAIM_COLUMNS})
    # One single-row INSERT per event (SQLAlchemy does not cache an INSERT of several VALUES
    # rows: it would be compiled again on every filing, 1.2 ms), each after the one before:
    # it selects from that one's RETURNING, so the ids, which order a claim's history, are
    # drawn in the events' order.
    events: list[Any] = []
    for i in range(event_count):
        values = [
            bindparam(f"event{i}_{c}", type_=ClaimEvent.__table__.c[c].type) for c in EVENT_COLUMNS
        ]
        row = select(*values)
        if events:
            row = row.select_from(events[-1])
        stored = insert(ClaimEvent).from_select(EVENT_COLUMNS, row).returning(ClaimEvent.id)
        events.append(stored.cte(f"stored_event{i}"))
    # The webhook events carry their ids (drawn in order by the caller): single-row INSERTs,
    # independent of each other.
    notices = [
        insert(WebhookEvent)
        .values(
            {
                c: bindparam(f"notice{i}_{c}", type_=WebhookEvent.__table__.c[c].type)
                for c in NOTICE_COLUMNS
            }
        )
        .cte(f"stored_notice{i}")
        for i in range(notice_count)
    ]
    audit = insert(audit_event).values({c: bindparam(f"audit_{c}") for c in AUDIT_COLUMNS})
    numbers = select(
        bindparam("invoice_claim_id", type_=String),
        bindparam("invoice_plan_code", type_=String),
        func.unnest(bindparam("invoice_numbers", type_=ARRAY(String))),
    )
    held = (
        pg_insert(ClaimInvoice)
        .from_select(["claim_id", "plan_code", "invoice_number"], numbers)
        .on_conflict_do_nothing()
        .returning(ClaimInvoice.invoice_number)
        .cte("held_invoice")
    )
    writes = [claim.cte("stored_claim"), *events, *notices, audit.cte("audited")]
    if remember is not None:
        writes.append(remember.cte("remembered"))
    return select(func.count()).select_from(held).add_cte(*writes)


async def store_filing(
    session: AsyncSession,
    claim: dict[str, Any],
    events: list[dict[str, Any]],
    notices: list[dict[str, Any]],
    audit: dict[str, Any],
    invoices: list[str],
    remembering: tuple[Any, dict[str, Any]] | None,
) -> int:
    """Write it all in the request's transaction: how many of `invoices` were held.
    `remembering`: services.kit.idempotency.Idempotency.remembering's UPDATE and parameters."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        await connection.execute(_INSERT_CLAIM, claim)
        await connection.execute(_INSERT_EVENTS, events)
        await connection.execute(_INSERT_NOTICES, notices)
        await connection.execute(_INSERT_AUDIT, audit)
        if remembering is not None:
            await connection.execute(*remembering)
        return await repository.register_invoices(
            session, claim["id"], claim["plan_code"], invoices
        )
    parameters = {f"claim_{c}": claim[c] for c in CLAIM_COLUMNS}
    for i, event in enumerate(events):
        parameters.update({f"event{i}_{c}": event[c] for c in EVENT_COLUMNS})
    for i, notice in enumerate(notices):
        parameters.update({f"notice{i}_{c}": notice[c] for c in NOTICE_COLUMNS})
    parameters.update({f"audit_{c}": audit[c] for c in AUDIT_COLUMNS})
    parameters.update(
        invoice_claim_id=claim["id"], invoice_plan_code=claim["plan_code"], invoice_numbers=invoices
    )
    remember = None
    if remembering is not None:
        remember, remembered = remembering
        parameters.update(remembered)
    statement = _one_statement(len(events), len(notices), remember)
    return (await connection.execute(statement, parameters)).scalar_one()
