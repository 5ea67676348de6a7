"""budget: the ledger keeps when a payment was issued (the day it counts against) and why one waits for a
person; one lock row serialises the check-and-reserve of the caps and the daily budget

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        # when the payment was reserved or issued: the UTC day it counts against and the rolling year
        batch.add_column(sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True))
        # a payment the system would not make on its own: why it waits (the cap or the budget it breaks)
        batch.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))
        batch.create_index("ix_ledger_issued_at", ["issued_at"], unique=False)
    lock = op.create_table(
        "ledger_lock",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reservations", sa.Integer(), nullable=False),
    )
    op.bulk_insert(lock, [{"id": 1, "reservations": 0}])
    # issued before this migration: counted on the day the row was written
    op.execute("UPDATE ledger SET issued_at = created_at WHERE status = 'issued'")


def downgrade() -> None:
    op.drop_table("ledger_lock")
    with op.batch_alter_table("ledger") as batch:
        batch.drop_index("ix_ledger_issued_at")
        batch.drop_column("hold_reason")
        batch.drop_column("issued_at")
