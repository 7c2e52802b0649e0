"""claim documents

Revision ID: 0006_claim_documents
Revises: 0005_bank_files
Create Date: 2026-12-03

A claim's papers (DOMAIN.md, "Claim documents"): one row per upload, the bytes kept outside
the database under their SHA-256 (claims_api.documents.storage). A wrong upload is withdrawn
(`withdrawn_at`, `withdrawn_by`), never deleted. The index on sha256 finds the same bytes on
another claim (`duplicate_document`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_claim_documents"
down_revision: str | None = "0005_bank_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "claim_document",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("claim_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("uploaded_role", sa.String(length=20), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claim.id"], name=op.f("fk_claim_document_claim_id_claim")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_document")),
    )
    with op.batch_alter_table("claim_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_document_claim_id"), ["claim_id"], unique=False)
        batch_op.create_index("ix_claim_document_sha256", ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("claim_document", schema=None) as batch_op:
        batch_op.drop_index("ix_claim_document_sha256")
        batch_op.drop_index(batch_op.f("ix_claim_document_claim_id"))
    op.drop_table("claim_document")
