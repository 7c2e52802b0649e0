"""payout accounts and bank answers on the ledger

Revision ID: 0005_bank_files
Revises: 0004_report_indexes
Create Date: 2026-12-02

Each payment entry records the account it paid to (read from the registry when the batch was
made), its line in the batch's bank file (`bank_line`, the file's 序号), and the bank's answer:
`bank_status` sent, then settled or returned, with the bank's reason and when it was recorded.
A reversal entry has none of these.

The ledger stays append-only on Postgres with one exception, the bank's answer: a row trigger
lets an entry's bank_status go once from `sent` to `settled` or `returned` (with bank_reason and
bank_status_at), nothing else of the row changing; the statement trigger still refuses every
DELETE and every UPDATE naming another column (even of no row).

Entries written before this revision: a payment is `sent`, or `returned` if it was reversed;
its bank_line is its place among the batch's payments, in id order; it has no account.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_bank_files"
down_revision: str | None = "0004_report_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column but the bank's answer: an UPDATE naming one is refused (statement trigger).
FIXED = (
    "id, batch_id, claim_id, entry_kind, amount, reverses_entry_id, reason, plan_code, "
    "unit_id, member_id, paid_on, created_by, created_at, bank_line, account_name, "
    "account_number, bank_name, bank_branch"
)
ANSWER = "- 'bank_status' - 'bank_reason' - 'bank_status_at'"
ANSWER_ONCE = f"""
CREATE OR REPLACE FUNCTION mutualaid_bank_answer_once() RETURNS trigger AS $$
BEGIN
    IF OLD.bank_status = 'sent' AND NEW.bank_status IN ('settled', 'returned')
            AND (to_jsonb(NEW) {ANSWER}) = (to_jsonb(OLD) {ANSWER}) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'payout_entry is append-only: only the bank''s answer is recorded, once '
        '(bank_status from sent to settled or returned)'
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS payout_entry_append_only ON payout_entry")
    with op.batch_alter_table("payout_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bank_line", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("account_name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("account_number", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("bank_name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("bank_branch", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("bank_status", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("bank_reason", sa.String(length=2000), nullable=True))
        batch_op.add_column(
            sa.Column("bank_status_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_payout_entry_bank_status", ["bank_status"], unique=False)
    op.execute(
        "UPDATE payout_entry SET bank_line = (SELECT count(*) FROM payout_entry AS p "
        "WHERE p.batch_id = payout_entry.batch_id AND p.entry_kind = 'payment' "
        "AND p.id <= payout_entry.id), "
        "bank_status = CASE WHEN EXISTS (SELECT 1 FROM payout_entry AS r "
        "WHERE r.reverses_entry_id = payout_entry.id) THEN 'returned' ELSE 'sent' END "
        "WHERE entry_kind = 'payment'"
    )
    if postgres:
        op.execute(
            f"CREATE TRIGGER payout_entry_append_only BEFORE UPDATE OF {FIXED} OR DELETE "
            "ON payout_entry FOR EACH STATEMENT EXECUTE FUNCTION mutualaid_refuse_change()"
        )
        op.execute(ANSWER_ONCE)
        op.execute(
            "CREATE TRIGGER payout_entry_bank_answer BEFORE UPDATE ON payout_entry "
            "FOR EACH ROW EXECUTE FUNCTION mutualaid_bank_answer_once()"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS payout_entry_bank_answer ON payout_entry")
        op.execute("DROP FUNCTION IF EXISTS mutualaid_bank_answer_once()")
        op.execute("DROP TRIGGER IF EXISTS payout_entry_append_only ON payout_entry")
    with op.batch_alter_table("payout_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_payout_entry_bank_status")
        for column in (
            "bank_status_at",
            "bank_reason",
            "bank_status",
            "bank_branch",
            "bank_name",
            "account_number",
            "account_name",
            "bank_line",
        ):
            batch_op.drop_column(column)
    if postgres:
        op.execute(
            "CREATE TRIGGER payout_entry_append_only BEFORE UPDATE OR DELETE ON payout_entry "
            "FOR EACH STATEMENT EXECUTE FUNCTION mutualaid_refuse_change()"
        )
