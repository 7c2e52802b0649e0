"""audit log append-only on Postgres

Revision ID: 0002_audit_append_only
Revises: 0001_registry
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from migrations.append_only import protect, unprotect

revision: str = "0002_audit_append_only"
down_revision: str | None = "0001_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    protect("audit_event")


def downgrade() -> None:
    unprotect("audit_event")
