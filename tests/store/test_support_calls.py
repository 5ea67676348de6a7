"""The support line's calls in the store: answered at the first ring (within 6 s of arrival), abandoned,
a callback; the wall's call figures (shares of ALL calls in) and reps, and the /metrics families. Also: a
timeline note for work with no case writes nothing instead of failing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from prometheus_client import generate_latest

from domain.cases import TimelineEntry
from domain.routing import FloorSnapshot, RepStatus, RepView
from store import cases, reps, support_calls, wall
from store.db import Store
from store.models import InboundMessage, OutboundMessageRow
from tests.support.cases import open_case
from web.metrics import registry_for

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def arrive(store: Store, sid: str, at: datetime) -> None:
    work = {"work_id": f"call-{sid}", "kind": "caller", "arrived_at": at.isoformat()}
    assert support_calls.arrived(store, sid, "+31600000000", support_calls.Caller(None), "en", work, at)


def test_calls_and_the_wall(store: Store) -> None:
    arrive(store, "CA1", T0)
    assert support_calls.answered(store, "CA1", "ann", T0 + timedelta(seconds=4))  # first ring
    arrive(store, "CA2", T0)
    assert support_calls.answered(store, "CA2", "bob", T0 + timedelta(seconds=30))  # later
    arrive(store, "CA3", T0)
    assert support_calls.ended(store, "CA3", T0 + timedelta(seconds=20)) is not None  # abandoned
    assert not support_calls.answered(store, "CA3", "ann")  # too late: the caller is gone
    arrive(store, "CA4", T0)
    assert support_calls.wants_callback(store, "CA4", {"work_id": "callback-CA4"}) is not None
    assert support_calls.ended(store, "CA4") is None  # their hang-up after asking is no abandon

    calls = support_calls.figures(store, T0 - timedelta(hours=1))
    assert (calls.calls_in, calls.answered, calls.answered_first_ring, calls.abandoned, calls.callback) == (
        4,
        2,
        1,
        1,
        1,
    )
    reps.save_floor(
        store,
        FloorSnapshot(
            reps=(
                RepView(
                    user="ann", status=RepStatus.AVAILABLE, since=T0, languages=("en",), missed_in_a_row=0
                ),
                RepView(user="bob", status=RepStatus.BUSY, since=T0, languages=("en",), missed_in_a_row=0),
                RepView(user="cy", status=RepStatus.WRAP_UP, since=T0, languages=("en",), missed_in_a_row=0),
            ),
            at=T0,
        ),
    )
    # an automatic call: the patient's reply at T0, the first offered rep rung 0.4 s later
    case = open_case(store)
    with store.session() as s:
        s.add(
            InboundMessage(
                channel="sms",
                provider_id="SM1",
                from_address="+3161",
                body="help",
                case_id=case.case_id,
                received_at=T0,
            )
        )
        s.add(
            OutboundMessageRow(
                case_id=case.case_id,
                key="offer-esc-1.o1",
                channel="voice",
                to_address="+3162",
                body="whisper",
                status="sent",
                created_at=T0 + timedelta(milliseconds=400),
            )
        )
    shown = wall.wall(
        store,
        since=T0 - timedelta(hours=1),
        now=T0 + timedelta(hours=1),
        sla_seconds=600,
        currency="EUR",
        daily_budget=Decimal("100"),
    ).as_json()
    assert shown["calls_in"] == 4
    assert shown["calls_answered_first_ring_pct"] == 25.0  # of ALL calls, the abandoned one included
    assert shown["calls_abandoned_pct"] == 25.0
    assert (shown["reps_available"], shown["reps_busy"]) == (1, 2)
    assert shown["auto_call_p90_seconds"] == 0.4

    text = generate_latest(registry_for(store)).decode()
    assert 'makeright_calls_total{outcome="answered"} 2.0' in text
    assert 'makeright_calls_total{outcome="abandoned"} 1.0' in text
    assert 'makeright_calls_total{outcome="callback"} 1.0' in text
    assert 'makeright_call_answer_seconds_bucket{le="6.0"} 1.0' in text
    assert "makeright_call_answer_seconds_count 2.0" in text
    assert 'makeright_reps{status="available"} 1.0' in text
    assert "+3160" not in text  # no patient data


def test_a_note_for_work_with_no_case_writes_nothing(store: Store) -> None:
    cases.add_timeline(store, TimelineEntry(case_id="", what="rep_rung", key="k", detail={}))


def test_a_calls_instructions_are_relayed_in_order(store: Store) -> None:
    """The hang-up's withdrawal waits while the call's offer is still pending (Temporal was away)."""
    from store import relay

    arrive(store, "CA9", T0)
    withdraw = support_calls.ended(store, "CA9", T0 + timedelta(seconds=3))
    assert withdraw is not None
    assert relay.claim(store, "r1", [withdraw]) == []  # the offer first
    later = datetime.now(UTC) + timedelta(minutes=1)
    held = relay.claim(store, "r1", grace_seconds=0, now=later)
    assert len(held) == 1 and held[0] != withdraw
