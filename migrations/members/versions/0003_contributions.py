"""contributions: payments, their allocation to enrolments, each unit's credit

Revision ID: 0003_contributions
Revises: 0002_audit_append_only
Create Date: 2026-12-02

A payment (`contribution`) is allocated to its unit's unpaid enrolments in its plan
(`contribution_allocation`); what is left is the unit's credit for the plan
(`unit_plan_credit`, whose row is the lock of every allocation). Payments and allocations are
never changed: append-only on Postgres, as the audit log is.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.append_only import protect, unprotect
from services.kit.database import UtcDateTime
from services.kit.money import Fen

revision: str = "0003_contributions"
down_revision: str | None = "0002_audit_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNPAID = sa.text("paid_on IS NULL AND status = 'active'")


def upgrade() -> None:
    op.create_table(
        "contribution",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("unit_id", sa.String(length=40), nullable=False),
        sa.Column("plan_code", sa.String(length=40), nullable=False),
        sa.Column("amount", Fen(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("reverses_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["plan.code"], name=op.f("fk_contribution_plan_code_plan")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["contribution.id"],
            name=op.f("fk_contribution_reverses_id_contribution"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["unit.id"], name=op.f("fk_contribution_unit_id_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contribution")),
        sa.UniqueConstraint(
            "plan_code", "reference", name=op.f("uq_contribution_plan_code_reference")
        ),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_contribution_reverses_id")),
    )
    with op.batch_alter_table("contribution", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contribution_unit_plan", ["unit_id", "plan_code", "id"], unique=False
        )

    op.create_table(
        "unit_plan_credit",
        sa.Column("unit_id", sa.String(length=40), nullable=False),
        sa.Column("plan_code", sa.String(length=40), nullable=False),
        sa.Column("credit", Fen(), server_default="0", nullable=False),
        sa.CheckConstraint("credit >= 0", name=op.f("ck_unit_plan_credit_credit_not_negative")),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["plan.code"], name=op.f("fk_unit_plan_credit_plan_code_plan")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["unit.id"], name=op.f("fk_unit_plan_credit_unit_id_unit")
        ),
        sa.PrimaryKeyConstraint("unit_id", "plan_code", name=op.f("pk_unit_plan_credit")),
    )
    op.create_table(
        "contribution_allocation",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("contribution_id", sa.String(length=40), nullable=False),
        sa.Column("enrollment_id", sa.String(length=40), nullable=False),
        sa.Column("amount", Fen(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        # no foreign keys: one row per enrolment of a bulk import (models.py says why)
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contribution_allocation")),
    )
    with op.batch_alter_table("contribution_allocation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contribution_allocation_contribution_id"),
            ["contribution_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_contribution_allocation_enrollment_id"), ["enrollment_id"], unique=False
        )

    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contribution_paid", Fen(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("paid_on", sa.Date(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_enrollment_contribution_paid_within_due"),
            "contribution_paid >= 0 AND contribution_paid <= contribution_due",
        )
        batch_op.create_index(
            "ix_enrollment_unpaid",
            ["unit_id", "plan_code", "created_at", "id"],
            unique=False,
            postgresql_where=UNPAID,
            sqlite_where=UNPAID,
        )

    # An enrolment owing nothing is paid on the day it was made (members_api.contributions).
    op.execute("UPDATE enrollment SET paid_on = enrolled_on WHERE contribution_due = 0")
    protect("contribution", "contribution_allocation")


def downgrade() -> None:
    unprotect("contribution", "contribution_allocation", keep_function=True)  # audit_event's
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_unpaid")
        batch_op.drop_constraint(op.f("ck_enrollment_contribution_paid_within_due"), type_="check")
        batch_op.drop_column("paid_on")
        batch_op.drop_column("contribution_paid")

    with op.batch_alter_table("contribution_allocation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contribution_allocation_enrollment_id"))
        batch_op.drop_index(batch_op.f("ix_contribution_allocation_contribution_id"))

    op.drop_table("contribution_allocation")
    op.drop_table("unit_plan_credit")
    with op.batch_alter_table("contribution", schema=None) as batch_op:
        batch_op.drop_index("ix_contribution_unit_plan")

    op.drop_table("contribution")
