"""trackers: a problem ticket keeps its external issue's web address (TRACKER_MODE jira or github) and a
claim while one sync creates it; each occurrence notes when its comment reached the tracker

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("external_claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("external_claimed_by", sa.String(length=40), nullable=True))
    with op.batch_alter_table("ticket_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_synced_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_links", schema=None) as batch_op:
        batch_op.drop_column("external_synced_at")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("external_claimed_by")
        batch_op.drop_column("external_claimed_at")
        batch_op.drop_column("external_url")
