"""dead letters: resubmitted by an engineer, when, and as which inbox row

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resubmitted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resubmitted_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("resubmitted_as", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_column("resubmitted_as")
        batch_op.drop_column("resubmitted_by")
        batch_op.drop_column("resubmitted_at")
