"""payout accounts: each member's bank card for its payouts (代发)

Revision ID: 0004_payout_accounts
Revises: 0003_contributions
Create Date: 2026-12-02

At most one account per member (its key is the member's); the number is a card number of 16
to 19 digits (the Luhn check digit is checked by the registry, the length by the database
too). The name is the member's: banks refuse a transfer to another name.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.kit.database import UtcDateTime

revision: str = "0004_payout_accounts"
down_revision: str | None = "0003_contributions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payout_account",
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("account_name", sa.String(length=100), nullable=False),
        sa.Column("account_number", sa.String(length=19), nullable=False),
        sa.Column("bank_name", sa.String(length=200), nullable=False),
        sa.Column("bank_branch", sa.String(length=200), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "length(account_number) BETWEEN 16 AND 19",
            name=op.f("ck_payout_account_account_number_length"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_payout_account_member_id_member")
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_payout_account")),
    )


def downgrade() -> None:
    op.drop_table("payout_account")
