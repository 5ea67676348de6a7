"""patients writing in: inbound_emails (SendGrid Inbound Parse, stored first), the case's email token for
the Reply-To of its emails, and the local mailbox's Reply-To and In-Reply-To

Revision ID: 0021
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_emails",
        sa.Column("email_id", sa.String(length=40), primary_key=True),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column("case_id", sa.String(length=40), nullable=True),
        sa.Column("from_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("why", sa.String(length=300), nullable=True),
        sa.Column("event_row_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_to", sa.String(length=100), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_text", sa.Text(), nullable=True),
        sa.UniqueConstraint("message_id", name="uq_inbound_emails_message_id"),
    )
    op.create_index("ix_inbound_emails_case_id", "inbound_emails", ["case_id"])
    op.create_index("ix_inbound_emails_from_address", "inbound_emails", ["from_address"])
    op.create_index("ix_inbound_emails_status", "inbound_emails", ["status"])
    op.create_index("ix_inbound_emails_received_at", "inbound_emails", ["received_at"])
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("email_token", sa.String(length=40), nullable=True))
        batch.create_unique_constraint("uq_cases_email_token", ["email_token"])
    with op.batch_alter_table("local_deliveries") as batch:
        batch.add_column(sa.Column("reply_to", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("in_reply_to", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("local_deliveries") as batch:
        batch.drop_column("in_reply_to")
        batch.drop_column("reply_to")
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("uq_cases_email_token", type_="unique")
        batch.drop_column("email_token")
    op.drop_table("inbound_emails")
