"""conversation: what each inbound message answered (an open question, a person, the patient's consent)

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        batch.add_column(sa.Column("answered", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("why", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_column("why")
        batch.drop_column("answered")
