"""audit log, claim history and payout ledger append-only on Postgres

Revision ID: 0003_append_only
Revises: 0002_claims_ledger
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from migrations.append_only import protect, unprotect

revision: str = "0003_append_only"
down_revision: str | None = "0002_claims_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("audit_event", "claim_event", "payout_entry")


def upgrade() -> None:
    protect(*TABLES)


def downgrade() -> None:
    unprotect(*TABLES)
