"""Migration 0017 on both databases: a card ordered before it gets a random link token of its own (its old
link, the order id, opens nothing any more), and the compensation_issued entries on the timeline forget the
order id they carried."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from domain.events import BookingEvent
from store import inbox
from store.db import Store, migrate, normalise_url
from store.gift_cards import card_number, local_card
from tests.support.databases import drop_postgres, fresh_postgres_url
from tests.support.settings import example_event

SECRET = "a-gift-card-secret"


@pytest.fixture(params=["sqlite", "postgresql"])
def at_0016(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'makeright.db'}" if request.param == "sqlite" else fresh_postgres_url()
    migrate(url, "0016")
    yield url
    if request.param == "postgresql":
        drop_postgres(url)


def test_cards_ordered_before_get_a_random_link_and_the_timeline_forgets_their_order(at_0016: str) -> None:
    store = Store(at_0016)
    # opened by intake's plain INSERTs: the ORM's Case has the columns of later migrations, not 0016's
    event = example_event()
    case_id = inbox.accept_booking_event(
        store, json.dumps(event).encode(), BookingEvent.received(event)
    ).case_id
    now = datetime.now(UTC)
    engine = create_engine(normalise_url(at_0016))
    with engine.begin() as db:
        for order_id in ("GC-0000000000A1", "GC-0000000000B2"):
            db.execute(
                text(
                    "INSERT INTO gift_card_orders (order_id, external_ref, amount, currency, created_at)"
                    " VALUES (:o, :r, 10, 'USD', :at)"
                ),
                {"o": order_id, "r": f"ref-{order_id}", "at": now},
            )
        db.execute(
            text("INSERT INTO timeline (case_id, at, what, key, detail) VALUES (:c, :at, :w, :k, :d)"),
            {
                "c": case_id,
                "at": now,
                "w": "compensation_issued",
                "k": "ledger:old",
                "d": '{"amount": "10.00", "currency": "USD", "order_id": "GC-0000000000A1"}',
            },
        )
    engine.dispose()

    migrate(at_0016)

    engine = create_engine(normalise_url(at_0016))
    with engine.connect() as db:
        rows = db.execute(text("SELECT order_id, link_token FROM gift_card_orders")).all()
        tokens: dict[str, str] = {order_id: token for order_id, token in rows}
        detail = db.execute(
            text("SELECT detail FROM timeline WHERE what = 'compensation_issued'")
        ).scalar_one()
    engine.dispose()
    assert len(set(tokens.values())) == 2 and all(len(t) >= 22 for t in tokens.values())
    assert "GC-" not in str(detail) and "order_id" not in str(detail)
    # the old link (the order id) opens nothing; the new token opens the card, its number keyed
    assert local_card(store, "GC-0000000000A1", SECRET) is None
    card = local_card(store, tokens["GC-0000000000A1"], SECRET)
    assert card is not None and card.number == card_number("GC-0000000000A1", SECRET)
