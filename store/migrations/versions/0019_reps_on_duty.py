"""reps on duty: the router workflow's floor as last saved (status, since, languages, misses, what each rep
is offered or working on), for GET /api/reps, the console and the wall

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reps_on_duty",
        sa.Column("user", sa.String(length=100), primary_key=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("missed_in_a_row", sa.Integer(), nullable=False),
        sa.Column("missed_total", sa.Integer(), nullable=False),
        sa.Column("work_id", sa.String(length=200), nullable=True),
        sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reps_on_duty_status", "reps_on_duty", ["status"])
    op.create_index("ix_reps_on_duty_work_id", "reps_on_duty", ["work_id"])


def downgrade() -> None:
    op.drop_table("reps_on_duty")
