"""event tallies: how many booking events were received, by type and result, for /metrics

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # one row per (type, result): accepted | duplicate | invalid | unauthorized. A repeat of a known event
    # id and a refused request (bad signature, bad body) leave no inbox row, so they are counted here
    op.create_table(
        "event_tallies",
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("type", "result"),
    )


def downgrade() -> None:
    op.drop_table("event_tallies")
