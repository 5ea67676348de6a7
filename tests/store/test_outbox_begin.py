"""Send-once's first step (store/outbox.py `begin`) on both databases: the intent is written once per
(case, channel, key) however many attempts arrive at once, each attempt is counted, and an attempt sees
the intent as it stood before it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from domain.messaging import Channel, OutboundMessage
from store import outbox
from store.db import Store
from store.models import OutboundMessageRow


def sms(key: str = "offer-1") -> OutboundMessage:
    return OutboundMessage(
        case_id="case-outbox-1", key=key, channel=Channel.SMS, to="+14155550100", body="hello"
    )


def stored(store: Store) -> list[tuple[str, str, int]]:
    with store.session() as s:
        rows = s.execute(
            select(OutboundMessageRow.key, OutboundMessageRow.status, OutboundMessageRow.attempts).order_by(
                OutboundMessageRow.id
            )
        )
        return [(r.key, r.status, r.attempts) for r in rows]


def test_a_first_attempt_writes_the_intent_and_a_second_sees_it(any_db_url: str) -> None:
    store = Store(any_db_url)
    first = outbox.begin(store, sms())
    assert (first.status, first.attempts, first.provider_id) == ("intent", 0, None)
    again = outbox.begin(store, sms())
    assert (again.id, again.status, again.attempts, again.created_at) == (
        first.id,
        "sending",
        1,
        first.created_at,
    )
    assert stored(store) == [("offer-1", "sending", 2)]


def test_a_message_that_went_out_is_not_counted_again(any_db_url: str) -> None:
    store = Store(any_db_url)
    intent = outbox.begin(store, sms())
    outbox.finish(store, intent.id, "sent", provider_id="SM123")
    again = outbox.begin(store, sms())
    assert (again.status, again.provider_id, again.attempts) == ("sent", "SM123", 1)
    assert stored(store) == [("offer-1", "sent", 1)]


def test_attempts_at_once_write_one_intent_and_count_each(any_db_url: str) -> None:
    store = Store(any_db_url)
    with ThreadPoolExecutor(max_workers=6) as pool:
        seen = list(pool.map(lambda _: outbox.begin(store, sms()), range(12)))
    assert len({i.id for i in seen}) == 1
    assert sorted(i.attempts for i in seen) == list(range(12))  # each saw the count before it
    assert [i.status for i in seen].count("intent") == 1
    assert stored(store) == [("offer-1", "sending", 12)]
