"""support calls: patients calling the support line (arrival, answer, hang-up, who took it, whether at the
first ring), for the router's caller work and the wall's call figures

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("from_number", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=100), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_ring", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("call_sid"),
    )
    op.create_index("ix_support_calls_case_id", "support_calls", ["case_id"])
    op.create_index("ix_support_calls_arrived_at", "support_calls", ["arrived_at"])
    op.create_index("ix_support_calls_status", "support_calls", ["status"])


def downgrade() -> None:
    op.drop_table("support_calls")
