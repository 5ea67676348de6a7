"""gift card links: each local card's link is a random token of its own, no longer its order id; the
compensation_issued timeline entries forget the order id

Revision ID: 0017
Revises: 0016

Cards issued before this revision get a fresh random token here: their old links (`/gift/GC-…`) stop
working, and nobody holds the new ones (the patient's SMS and email carry the old link). The order id
they name stays in the ledger and the local book for reconciliation.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

orders = sa.table("gift_card_orders", sa.column("order_id", sa.String), sa.column("link_token", sa.String))
timeline = sa.table(
    "timeline", sa.column("id", sa.Integer), sa.column("what", sa.String), sa.column("detail", sa.JSON)
)


def upgrade() -> None:
    with op.batch_alter_table("gift_card_orders") as batch:
        batch.add_column(sa.Column("link_token", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    for (order_id,) in bind.execute(sa.select(orders.c.order_id)).all():
        bind.execute(
            orders.update().where(orders.c.order_id == order_id).values(link_token=secrets.token_urlsafe(16))
        )
    with op.batch_alter_table("gift_card_orders") as batch:
        batch.alter_column("link_token", existing_type=sa.String(length=64), nullable=False)
        batch.create_index("ix_gift_card_orders_link_token", ["link_token"], unique=True)
    # the order id was the card's link: no timeline entry (which every API role reads) keeps it
    issued = bind.execute(
        sa.select(timeline.c.id, timeline.c.detail).where(timeline.c.what == "compensation_issued")
    ).all()
    for item_id, detail in issued:
        if isinstance(detail, dict) and "order_id" in detail:
            kept = {k: v for k, v in detail.items() if k != "order_id"}
            bind.execute(timeline.update().where(timeline.c.id == item_id).values(detail=kept))


def downgrade() -> None:
    with op.batch_alter_table("gift_card_orders") as batch:
        batch.drop_index("ix_gift_card_orders_link_token")
        batch.drop_column("link_token")
