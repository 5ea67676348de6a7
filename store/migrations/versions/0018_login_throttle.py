"""login throttle: sign-in attempts in a row per name and per address, reserved before hashing, with an
exponential back-off (replaces counting rows of login_failures, which a parallel burst slipped past)

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=120), primary_key=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.Column("not_before", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
