"""where a claim comes from: filed by a person, or from settlement data

Revision ID: 0007_claim_source
Revises: 0006_claim_documents
Create Date: 2026-12-05

Claims from settlement data (DOMAIN.md, "Claims from settlement data"): `source` says who made
the claim, `filed` (the member, its unit's hr or admin, every claim until now) or `settlement`
(the system, from the insurer's records uploaded by union staff); a settlement claim keeps its
settlement number (结算单号), unique per plan, so that a file sent twice files nothing twice,
even for a rejected claim (which holds no invoice number).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_claim_source"
down_revision: str | None = "0006_claim_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=20), server_default="filed", nullable=False)
        )
        batch_op.add_column(sa.Column("settlement_number", sa.String(length=60), nullable=True))
        batch_op.create_index(
            "ux_claim_settlement_number", ["plan_code", "settlement_number"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.drop_index("ux_claim_settlement_number")
        batch_op.drop_column("settlement_number")
        batch_op.drop_column("source")
