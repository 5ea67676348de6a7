"""local bridge calls: the local phone plays a "Call patient" bridge (the rep's leg dials the patient in)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("local_deliveries") as batch:
        # the rep's leg of a bridge: the number its <Dial> calls once the rep answers
        batch.add_column(sa.Column("dial", sa.String(length=254), nullable=True))
        # the patient's leg of a bridge: the rep's call (Twilio's ParentCallSid)
        batch.add_column(sa.Column("parent_id", sa.String(length=100), nullable=True))
        # ringing | in-progress | completed | no-answer | busy | canceled (bridge legs only)
        batch.add_column(sa.Column("call_status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("call_answered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("call_ended_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("local_deliveries") as batch:
        batch.drop_column("call_ended_at")
        batch.drop_column("call_answered_at")
        batch.drop_column("call_status")
        batch.drop_column("parent_id")
        batch.drop_column("dial")
