"""The wall's email numbers (CONTRACT.md, "The wall and metrics: people"): an email is answered within the
hour when makeright acted on it, or a rep's answer went out, within 3600 s of its arrival; machines' mail
does not count; one still waiting but not an hour old is undecided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from store import inbound_email, wall
from store.db import Store
from store.models import InboundEmail

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def mail(store: Store, n: int, status: str, age_minutes: float, answered_after: float | None = None) -> None:
    received = NOW - timedelta(minutes=age_minutes)
    answered = received + timedelta(minutes=answered_after) if answered_after is not None else None
    with store.session() as s:
        s.add(
            InboundEmail(
                email_id=f"em-{n}",
                message_id=f"<{n}@patient.example>",
                case_id=None,
                from_address=f"patient{n}@example.com",
                subject="About my appointment",
                text="Can I come Thursday instead?",
                status=status,
                received_at=received,
                answered_at=answered,
            )
        )


def test_the_share_within_the_hour_counts_acts_and_answers_and_leaves_the_undecided_out(store: Store) -> None:
    mail(store, 1, "understood", 200)  # a "1" that rebooked at once
    mail(store, 2, "answered", 180, answered_after=20)  # a rep answered in 20 minutes
    mail(store, 3, "answered", 170, answered_after=90)  # a rep answered, but late
    mail(store, 4, "waiting", 100)  # nobody yet, past its hour: late
    mail(store, 5, "waiting", 10)  # nobody yet, within its hour: undecided
    mail(store, 6, "ignored", 50)  # an auto-reply: not a patient's question
    figures = inbound_email.figures(store, NOW - timedelta(hours=12), NOW)
    assert figures.emails_in == 5
    assert (figures.answered_within_hour, figures.decided) == (2, 4)
    assert sorted(figures.first_reply_seconds) == [0.0, 1200.0, 5400.0]
    assert figures.oldest_waiting_seconds == 6000.0

    shown = wall.wall(
        store,
        since=NOW - timedelta(hours=12),
        now=NOW,
        sla_seconds=600,
        currency="USD",
        daily_budget=Decimal("500.00"),
    ).as_json()
    assert shown["emails_in"] == 5
    assert shown["emails_answered_within_hour_pct"] == 50.0
    assert (
        shown["email_first_reply_p90_seconds"] is not None and shown["email_first_reply_p90_seconds"] > 1200
    )
    assert shown["oldest_waiting_email_seconds"] == 6000.0
    assert inbound_email.result_totals(store) == {"understood": 1, "to_person": 4}
    assert sorted(inbound_email.first_reply_seconds_all(store)) == [0.0, 1200.0, 5400.0]


def test_no_email_shows_nothing_rather_than_a_made_up_share(store: Store) -> None:
    figures = inbound_email.figures(store, NOW - timedelta(hours=12), NOW)
    assert (figures.emails_in, figures.decided, figures.oldest_waiting_seconds) == (0, 0, None)
    shown = wall.wall(
        store, since=NOW - timedelta(hours=12), now=NOW, sla_seconds=600, currency="USD", daily_budget=None
    ).as_json()
    assert shown["emails_answered_within_hour_pct"] is None and shown["email_first_reply_p90_seconds"] is None
