"""case failure: why a case's workflow failed, and which run

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure_kind", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("failure_message", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("failure_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failure_run_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("failure_run_id")
        batch_op.drop_column("failure_at")
        batch_op.drop_column("failure_message")
        batch_op.drop_column("failure_kind")
