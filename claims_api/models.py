"""The claims service's tables. Money columns hold whole fen (services.kit.money.Fen).

`claim_event` and `payout_entry` are append-only: history and the ledger are never updated in
place, but for the bank's answer on a payment entry (sent, then settled or returned, once).
`claim_invoice` holds the invoice numbers of live claims (not rejected or withdrawn), so a
unique index finds duplicates across all members even under concurrent submissions.
`claim_lock` has one row per member and plan, locked while a claim's payout is decided, so
that caps hold under concurrency."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from services.kit.audit import audit_table
from services.kit.database import UtcDateTime, new_registry
from services.kit.idempotency import idempotency_table
from services.kit.money import Fen

claims_registry = new_registry()
metadata = claims_registry.metadata


class ClaimsTable(SQLModel, registry=claims_registry):
    pass


def _timestamp(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime, nullable=nullable))


def _money(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(Fen, nullable=nullable))


class Claim(ClaimsTable, table=True):
    __tablename__ = "claim"  # type: ignore[assignment]
    __table_args__ = (
        Index("ix_claim_member_plan", "member_id", "plan_code"),
        Index("ix_claim_enrollment_status", "enrollment_id", "status"),
        Index("ix_claim_plan_status", "plan_code", "status"),
        # the claims report's (migration 0004_report_indexes, claims_api/reports/service.py)
        Index(
            "ix_claim_report_unit",
            "plan_code",
            "status",
            "unit_id",
            "member_id",
            postgresql_include=["payable", "paid_on"],
        ),
        Index(
            "ix_claim_report_member",
            "plan_code",
            "status",
            "member_id",
            postgresql_include=["paid_on", "filed_on"],
        ),
        Index(
            "ix_claim_report_rejected",
            "plan_code",
            "filed_on",
            postgresql_include=["reason_codes"],
            postgresql_where=text("status = 'rejected'"),
            sqlite_where=text("status = 'rejected'"),
        ),
        # a settlement record is filed once per plan (migration 0007_claim_source)
        Index("ux_claim_settlement_number", "plan_code", "settlement_number", unique=True),
    )

    id: str = Field(primary_key=True, max_length=40)
    member_id: str = Field(max_length=40)
    unit_id: str | None = Field(default=None, max_length=40, index=True)
    plan_code: str = Field(max_length=40)
    kind: str = Field(max_length=30)
    enrollment_id: str | None = Field(default=None, max_length=40)
    status: str = Field(max_length=20, index=True)
    event_on: date
    end_on: date
    filed_on: date
    facts: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    original_facts: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    payable: Decimal = _money()
    assessment: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    reason_codes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    terms_snapshot: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    cover_snapshot: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    rules_version: str = Field(max_length=64)
    submitted_by: str = Field(max_length=200)
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = _timestamp(nullable=True)
    paid_on: date | None = None
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    # `filed` by a person (the member, its unit's hr, admin) or made by the system from the
    # insurer's `settlement` data (claims_api.settlement), whose 结算单号 it then keeps.
    source: str = Field(
        default="filed", max_length=20, sa_column_kwargs={"server_default": "filed"}
    )
    settlement_number: str | None = Field(default=None, max_length=60)


class ClaimInvoice(ClaimsTable, table=True):
    __tablename__ = "claim_invoice"  # type: ignore[assignment]
    __table_args__ = (UniqueConstraint("plan_code", "invoice_number"),)

    id: int | None = Field(default=None, primary_key=True)
    claim_id: str = Field(foreign_key="claim.id", max_length=40, index=True)
    plan_code: str = Field(max_length=40)
    invoice_number: str = Field(max_length=60)


class ClaimEvent(ClaimsTable, table=True):
    __tablename__ = "claim_event"  # type: ignore[assignment]
    id: int | None = Field(default=None, primary_key=True)
    claim_id: str = Field(foreign_key="claim.id", max_length=40, index=True)
    at: datetime = _timestamp()
    actor: str = Field(max_length=200)
    role: str = Field(max_length=20)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=2000)
    request_id: str | None = Field(default=None, max_length=128)
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class ClaimDocument(ClaimsTable, table=True):
    """A paper of a claim (DOMAIN.md, "Claim documents"); its bytes are in the document store
    under `sha256` (claims_api.documents.storage), written before this row. A wrong upload is
    withdrawn, never deleted: `withdrawn_at` set, kept for the audit."""

    __tablename__ = "claim_document"  # type: ignore[assignment]
    __table_args__ = (Index("ix_claim_document_sha256", "sha256"),)

    id: str = Field(primary_key=True, max_length=40)
    claim_id: str = Field(foreign_key="claim.id", max_length=40, index=True)
    kind: str = Field(max_length=30)
    content_type: str = Field(max_length=40)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    filename: str | None = Field(default=None, max_length=200)
    uploaded_by: str = Field(max_length=200)
    uploaded_role: str = Field(max_length=20)
    uploaded_at: datetime = _timestamp()
    withdrawn_at: datetime | None = _timestamp(nullable=True)
    withdrawn_by: str | None = Field(default=None, max_length=200)


class ClaimLock(ClaimsTable, table=True):
    __tablename__ = "claim_lock"  # type: ignore[assignment]
    key: str = Field(primary_key=True, max_length=100)


class PayoutBatch(ClaimsTable, table=True):
    __tablename__ = "payout_batch"  # type: ignore[assignment]
    id: str = Field(primary_key=True, max_length=40)
    paid_on: date = Field(index=True)
    reference: str = Field(max_length=100)
    created_by: str = Field(max_length=200)
    created_at: datetime = _timestamp()


class PayoutEntry(ClaimsTable, table=True):
    __tablename__ = "payout_entry"  # type: ignore[assignment]
    __table_args__ = (
        Index("ix_payout_entry_plan_paid", "plan_code", "paid_on"),
        Index("ix_payout_entry_claim", "claim_id"),
        Index("ix_payout_entry_bank_status", "bank_status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    batch_id: str = Field(foreign_key="payout_batch.id", max_length=40, index=True)
    claim_id: str = Field(foreign_key="claim.id", max_length=40)
    entry_kind: str = Field(max_length=10)  # payment | reversal
    amount: Decimal = _money()
    reverses_entry_id: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=2000)
    plan_code: str = Field(max_length=40)
    unit_id: str | None = Field(default=None, max_length=40, index=True)
    member_id: str = Field(max_length=40)
    paid_on: date
    created_by: str = Field(max_length=200)
    created_at: datetime = _timestamp()
    # A payment's line in the batch's bank file (序号) and the account it paid to, as the
    # registry held it when the batch was made (migration 0005_bank_files).
    bank_line: int | None = None
    account_name: str | None = Field(default=None, max_length=100)
    account_number: str | None = Field(default=None, max_length=40)
    bank_name: str | None = Field(default=None, max_length=100)
    bank_branch: str | None = Field(default=None, max_length=100)
    # The bank's answer: sent, then settled or returned, once (the only change of a ledger row
    # Postgres lets through).
    bank_status: str | None = Field(default=None, max_length=10)
    bank_reason: str | None = Field(default=None, max_length=2000)
    bank_status_at: datetime | None = _timestamp(nullable=True)


class WebhookSubscription(ClaimsTable, table=True):
    """Where to POST which claim events (DOMAIN.md, "Notifications to other systems"):
    `unit_id` null is every unit's claims (admin only); an hr subscription always names its
    unit. `secret` is the Standard Webhooks signing key, `whsec_` + base64 of 32 random bytes,
    shown once when created. Deleting sets `deleted_at`: the deliveries stay for the audit."""

    __tablename__ = "webhook_subscription"  # type: ignore[assignment]

    id: str = Field(primary_key=True, max_length=40)
    url: str = Field(max_length=2000)
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    unit_id: str | None = Field(default=None, max_length=40, index=True)
    secret: str = Field(max_length=100)
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=200)
    # The first failed delivery of the current streak of failures (none while it succeeds).
    failing_since: datetime | None = _timestamp(nullable=True)
    # The streak's latest failure: one long after it (its deliveries given up) starts anew.
    last_failure_at: datetime | None = _timestamp(nullable=True)
    created_by: str = Field(max_length=200)
    created_role: str = Field(max_length=20)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    deleted_at: datetime | None = _timestamp(nullable=True)


class WebhookEvent(ClaimsTable, table=True):
    """The outbox: one row per claim event, written in the transaction of the change it
    reports (claims_api.webhooks.outbox), whether or not anyone subscribes. `payload` is the
    whole Standard Webhooks body; `dispatched_at` is set once it is fanned out into
    deliveries, and the partial index finds the rows not yet fanned out."""

    __tablename__ = "webhook_event"  # type: ignore[assignment]
    __table_args__ = (
        Index(
            "ix_webhook_event_undispatched",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    type: str = Field(max_length=40)
    claim_id: str = Field(foreign_key="claim.id", max_length=40)
    unit_id: str | None = Field(default=None, max_length=40)
    member_id: str = Field(max_length=40)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _timestamp()
    dispatched_at: datetime | None = _timestamp(nullable=True)


class WebhookDelivery(ClaimsTable, table=True):
    """One event for one subscription: `pending` until the receiver answers 2xx
    (`delivered`) or the retries run out (`failed`). One per event and subscription, so a
    fan-out done twice delivers nothing twice."""

    __tablename__ = "webhook_delivery"  # type: ignore[assignment]
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_subscription", "subscription_id", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    event_id: str = Field(foreign_key="webhook_event.id", max_length=40)
    subscription_id: str = Field(foreign_key="webhook_subscription.id", max_length=40)
    status: str = Field(max_length=10)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime = _timestamp()
    last_attempt_at: datetime | None = _timestamp(nullable=True)
    last_status_code: int | None = None
    created_at: datetime = _timestamp()
    delivered_at: datetime | None = _timestamp(nullable=True)


class WebhookAttempt(ClaimsTable, table=True):
    """One POST of a delivery: the receiver's status code, or the error when there was none
    (timeout, refused, a destination no longer allowed)."""

    __tablename__ = "webhook_attempt"  # type: ignore[assignment]

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(foreign_key="webhook_delivery.id", max_length=40, index=True)
    at: datetime = _timestamp()
    status_code: int | None = None
    duration_ms: int
    error: str | None = Field(default=None, max_length=500)


idempotency = idempotency_table(metadata)
audit_event = audit_table(metadata)
