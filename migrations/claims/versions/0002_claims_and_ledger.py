"""claims and ledger

Revision ID: 0002_claims_ledger
Revises: 0001_claims_base
Create Date: 2026-11-24 02:48:29.972841
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002_claims_ledger'
down_revision: str | None = '0001_claims_base'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('claim',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('unit_id', sa.String(length=40), nullable=True),
    sa.Column('plan_code', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('enrollment_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('event_on', sa.Date(), nullable=False),
    sa.Column('end_on', sa.Date(), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('original_facts', sa.JSON(), nullable=False),
    sa.Column('payable', sa.BigInteger(), nullable=False),
    sa.Column('assessment', sa.JSON(), nullable=False),
    sa.Column('reason_codes', sa.JSON(), nullable=False),
    sa.Column('terms_snapshot', sa.JSON(), nullable=False),
    sa.Column('cover_snapshot', sa.JSON(), nullable=True),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('submitted_by', sa.String(length=200), nullable=False),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim'))
    )
    with op.batch_alter_table('claim', schema=None) as batch_op:
        batch_op.create_index('ix_claim_enrollment_status', ['enrollment_id', 'status'], unique=False)
        batch_op.create_index('ix_claim_member_plan', ['member_id', 'plan_code'], unique=False)
        batch_op.create_index('ix_claim_plan_status', ['plan_code', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_unit_id'), ['unit_id'], unique=False)

    op.create_table('claim_lock',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_claim_lock'))
    )
    op.create_table('payout_batch',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_batch'))
    )
    with op.batch_alter_table('payout_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payout_batch_paid_on'), ['paid_on'], unique=False)

    op.create_table('claim_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_claim_event_claim_id_claim')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_event'))
    )
    with op.batch_alter_table('claim_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_event_claim_id'), ['claim_id'], unique=False)

    op.create_table('claim_invoice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.String(length=40), nullable=False),
    sa.Column('plan_code', sa.String(length=40), nullable=False),
    sa.Column('invoice_number', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_claim_invoice_claim_id_claim')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_invoice')),
    sa.UniqueConstraint('plan_code', 'invoice_number', name=op.f('uq_claim_invoice_plan_code_invoice_number'))
    )
    with op.batch_alter_table('claim_invoice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_invoice_claim_id'), ['claim_id'], unique=False)

    op.create_table('payout_entry',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('batch_id', sa.String(length=40), nullable=False),
    sa.Column('claim_id', sa.String(length=40), nullable=False),
    sa.Column('entry_kind', sa.String(length=10), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reverses_entry_id', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.Column('plan_code', sa.String(length=40), nullable=False),
    sa.Column('unit_id', sa.String(length=40), nullable=True),
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['payout_batch.id'], name=op.f('fk_payout_entry_batch_id_payout_batch')),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_payout_entry_claim_id_claim')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_entry'))
    )
    with op.batch_alter_table('payout_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payout_entry_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index('ix_payout_entry_claim', ['claim_id'], unique=False)
        batch_op.create_index('ix_payout_entry_plan_paid', ['plan_code', 'paid_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_payout_entry_unit_id'), ['unit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payout_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payout_entry_unit_id'))
        batch_op.drop_index('ix_payout_entry_plan_paid')
        batch_op.drop_index('ix_payout_entry_claim')
        batch_op.drop_index(batch_op.f('ix_payout_entry_batch_id'))

    op.drop_table('payout_entry')
    with op.batch_alter_table('claim_invoice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_invoice_claim_id'))

    op.drop_table('claim_invoice')
    with op.batch_alter_table('claim_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_event_claim_id'))

    op.drop_table('claim_event')
    with op.batch_alter_table('payout_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payout_batch_paid_on'))

    op.drop_table('payout_batch')
    op.drop_table('claim_lock')
    with op.batch_alter_table('claim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_unit_id'))
        batch_op.drop_index(batch_op.f('ix_claim_status'))
        batch_op.drop_index('ix_claim_plan_status')
        batch_op.drop_index('ix_claim_member_plan')
        batch_op.drop_index('ix_claim_enrollment_status')

    op.drop_table('claim')
