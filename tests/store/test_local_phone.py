"""store/local_phone: what /dev/phone shows (every contact, one thread with a bridge call's legs, the
version the page polls) is read in one session per page load."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.orm import Session

from domain.messaging import Channel, OutboundMessage
from store import local_calls, local_phone, outbox
from store.db import Store

PATIENT = "+31612345678"
REP = "+31687654321"
OURS = "+15005550006"


def test_the_phone_page_is_read_in_one_session(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(sqlite_url)
    sms = OutboundMessage(case_id="c1", key="offer-1", channel=Channel.SMS, to=PATIENT, body="Reply 1")
    outbox.record_local_delivery(store, sms, OURS)
    call = OutboundMessage(
        case_id="c1", key="bridge-1", channel=Channel.VOICE, to=REP, body="Connecting", dial=PATIENT
    )
    outbox.record_local_delivery(store, call, OURS)
    [rep_entry] = local_phone.page(store, REP).thread.entries  # type: ignore[union-attr]
    rep_leg = local_calls.set_status(store, rep_entry.id, "in-progress")
    patient_leg = local_calls.ring_patient(store, rep_leg, OURS, "A colleague is calling you")
    local_calls.set_status(store, patient_leg.id, "in-progress")

    opened = 0
    session = store.session

    @contextmanager
    def counted() -> Iterator[Session]:
        nonlocal opened
        opened += 1
        with session() as s:
            yield s

    monkeypatch.setattr(store, "session", counted)
    shown = local_phone.page(store, PATIENT)
    assert opened == 1

    assert {c.address for c in shown.contacts} == {PATIENT, REP}
    assert shown.thread is not None
    kinds = [(e.kind, e.bridge, e.bridge_state) for e in shown.thread.entries]
    assert kinds == [("sms", None, None), ("voice", "patient", "connected")]
    assert shown.version == local_phone.version(store)
