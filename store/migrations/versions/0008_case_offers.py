"""case offers: the slots each round of a case offered, kept for retries and re-runs

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("offer_round", sa.Integer(), nullable=False),
        sa.Column("offers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "offer_round", name="uq_case_offers_round"),
    )
    op.create_index(op.f("ix_case_offers_case_id"), "case_offers", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_case_offers_case_id"), table_name="case_offers")
    op.drop_table("case_offers")
