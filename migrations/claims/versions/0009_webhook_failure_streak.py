"""webhooks: when a subscription last failed, so that a failing streak is continuous

Revision ID: 0009_webhook_failure_streak
Revises: 0008_webhooks
Create Date: 2026-12-09

A subscription is disabled after its deliveries have failed for the disable window without a
success between; `failing_since` alone kept a streak alive after its deliveries were given up,
so one failure days later disabled it. `last_failure_at` lets a failure long after the last
one start a new streak.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_webhook_failure_streak"
down_revision: str | None = "0008_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.drop_column("last_failure_at")
