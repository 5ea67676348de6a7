"""What the contact rules read from the store: conversations started (not messages), and what a rating
request decides from. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain.cases import CaseStatus, CaseUpdate
from domain.feedback import FeedbackAsked, FeedbackOutlookRequest
from domain.ids import feedback_workflow_id, watch_ref
from domain.messaging import Channel, ContactHistoryRequest
from store import cases, feedback, outbox
from store.db import Store
from store.models import OutboundMessageRow
from tests.support.cases import open_case

PHONE = "+31612345678"
PATIENT = "pat-1"  # the example's patient


def sent(store: Store, case_id: str, key: str, at: datetime, status: str = "sent") -> None:
    with store.session() as s:
        s.add(
            OutboundMessageRow(
                case_id=case_id,
                key=key,
                channel="sms",
                to_address=PHONE,
                body="…",
                status=status,
                provider_id="SM" + uuid.uuid4().hex,
                sent_at=at,
            )
        )


def history(store: Store, since: datetime, exclude: str | None = None) -> tuple[datetime, ...]:
    req = ContactHistoryRequest(addresses=(PHONE,), since=since, exclude_case_id=exclude, patient_id=PATIENT)
    return outbox.contact_history(store, req).sent


def test_the_caps_read_conversations_started_not_messages(any_db_url: str) -> None:
    store = Store(any_db_url)
    now = datetime.now(UTC).replace(microsecond=0)
    morning = now - timedelta(hours=5)
    case = open_case(store).case_id
    sent(store, case, "offer-1", morning)
    sent(store, case, "confirmation", morning + timedelta(minutes=4))  # within the case's conversation
    sent(store, case, "feedback", morning + timedelta(hours=1))  # a rating request: a conversation
    watch = watch_ref("appt-x")
    sent(store, watch, "checkin-prompt-0-20261124T0900Z", morning + timedelta(hours=2))  # one more
    sent(store, watch, "checkin-thanks-0", morning + timedelta(hours=2, minutes=1))  # answers her
    sent(store, case, "offer-2", morning + timedelta(hours=3), status="rejected")  # never reached her
    assert history(store, now - timedelta(days=7)) == (
        morning,
        morning + timedelta(hours=1),
        morning + timedelta(hours=2),
    )
    # the case asking is left out; a conversation that began before `since` does not begin again in it
    assert history(store, now - timedelta(days=7), exclude=case) == (morning + timedelta(hours=2),)
    assert history(store, morning + timedelta(minutes=1)) == (
        morning + timedelta(hours=1),
        morning + timedelta(hours=2),
    )


def test_a_rating_request_reads_the_patients_other_cases_and_their_requests(any_db_url: str) -> None:
    store = Store(any_db_url)
    now = datetime.now(UTC)
    first, second, third = (open_case(store).case_id for _ in range(3))
    for case_id in (first, second):
        sent(store, case_id, "offer-1", now - timedelta(minutes=30))
        cases.update_case(
            store, CaseUpdate(case_id=case_id, status=CaseStatus.RESOLVED, what="case_closed", key="closed")
        )
    feedback.asked(
        store,
        FeedbackAsked(
            case_id=first,
            workflow_id=feedback_workflow_id(first),
            channel=Channel.SMS,
            address=PHONE,
            language="nl",
            asked_at=now - timedelta(minutes=5),
            expires_at=now + timedelta(days=1),
        ),
    )
    seen = feedback.outlook(
        store,
        FeedbackOutlookRequest(
            case_id=second, patient_id=PATIENT, addresses=(PHONE,), since=now - timedelta(days=7)
        ),
    )
    assert seen.closed_at is not None
    others = {c.case_id: c for c in seen.cases}
    assert set(others) == {first, third}
    assert others[first].status == "resolved" and others[first].rating_asked_at is not None
    assert others[third].status == "open" and others[third].rating_asked_at is None
    assert [c.case_id for c in seen.conversations] == [first]  # its own offer is the one it closes
