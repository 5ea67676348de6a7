"""What the console tests share: a team of console users, a case to escalate, and logging in over HTTP."""

from __future__ import annotations

import functools
import re
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx

from config import Settings
from domain.base import CaseKind
from domain.escalation import (
    EscalationPolicy,
    EscalationRecord,
    EscalationState,
    EscalationStatus,
    Money,
)
from store import escalations, users
from store.db import Store
from store.models import Case, User, utcnow
from tests.support.cases import open_case
from tests.support.http import LiveServer, free_port
from tests.support.settings import make_settings
from web.app import create_app

PASSWORD = "correct horse battery"
PATIENT_PHONE = "+31612345678"
PATIENT_EMAIL = "ada@example.com"
MASKED_PHONE = "+316****5678"

# username → (role, phone, display name)
TEAM = {
    "rita": ("rep", "+12125550101", "Rita Rep"),
    "rob": ("rep", "+12125550102", "Rob Rep"),
    "sue": ("supervisor", "+12125550103", "Sue Supervisor"),
    "aud": ("auditor", None, "Al Auditor"),
}


@functools.cache
def _team_hash() -> str:
    # at today's scrypt cost a hash takes a few hundred ms: made once per test process, not per user
    return users.hash_password(PASSWORD)


def add_team(store: Store) -> None:
    with store.session() as s:
        for name, (role, phone, display) in TEAM.items():
            s.add(
                User(
                    username=name,
                    role=role,
                    password_hash=_team_hash(),
                    phone=phone,
                    display_name=display,
                    active=True,
                )
            )


def insert_case(store: Store, cause: str | None = "practice_calendar_out_of_sync") -> Case:
    """A booking-conflict case opened by intake and already handed to people (escalated, needs a rep), its
    root cause `cause` (as the workflow would have filed it)."""
    case = open_case(store)
    with store.session() as s:
        row = s.get(Case, case.case_id)
        assert row is not None
        row.status, row.needs_rep, row.root_cause = "escalated", True, cause
    case.status, case.needs_rep, case.root_cause = "escalated", True, cause
    return case


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def http_login(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    """Log in as a browser would: fetch the form (its CSRF cookie and field), post it."""
    page = client.get("/console/login")
    assert page.status_code == 200
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
    )


def booked_case(store: Store, appointment_id: str | None = None) -> Case:
    """A booking-conflict case opened the way the inbox opens one: from a stored booking event about a
    Dutch patient at a New York practice (the page reads names, language and practice from that event)."""
    from domain.events import BookingEvent
    from store import inbox

    appointment = appointment_id or f"appt-{uuid.uuid4().hex[:10]}"
    event = BookingEvent.model_validate(
        {
            "specversion": "1.0",
            "id": f"evt-{uuid.uuid4().hex[:12]}",
            "source": "booking-system",
            "type": "booking.slot_cancelled_by_practice",
            "data": {
                "appointment_id": appointment,
                "patient": {
                    "id": "pat-1",
                    "name": "Ada Jansen",
                    "phone": PATIENT_PHONE,
                    "email": PATIENT_EMAIL,
                    "locale": "nl",
                    "timezone": "Europe/Amsterdam",
                },
                "practice": {
                    "id": "prac-9",
                    "name": "Uptown Orthopedics",
                    "phone": "+12125550100",
                    "timezone": "America/New_York",
                },
                "provider": {"id": "prov-7", "name": "Dr. Kim", "specialty": "orthopedics"},
                "slot": {"start": "2026-11-24T10:00:00-05:00", "end": "2026-11-24T10:30:00-05:00"},
                "cause": "practice_calendar_out_of_sync",
            },
        }
    )
    accepted = inbox.accept_booking_event(store, event.model_dump_json().encode(), event)
    with store.session() as s:
        case = s.get(Case, accepted.case_id)
        assert case is not None
        case.status, case.needs_rep = "escalated", True
        return case


def start_console(db_url: str, tmp_path: Path, **overrides: object) -> tuple[LiveServer, Settings, Store]:
    port = free_port()
    values: dict[str, object] = {
        "public_base_url": f"http://127.0.0.1:{port}",
        "temporal_address": f"127.0.0.1:{free_port()}",  # nothing listens: these tests need no workflow
    }
    values.update(overrides)
    settings = make_settings(db_url, tmp_path, **values)
    store = Store(db_url)
    add_team(store)
    return LiveServer(create_app(settings, relay=False), port), settings, store


def client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)


def claimed_escalation(store: Store, by: str, reason: str = "patient_asked_for_a_person") -> str:
    """An escalation claimed by `by`, written by the same projection the Escalation workflow writes."""
    case = insert_case(store)
    now = utcnow()
    escalation_id = f"esc-{case.case_id}-{uuid.uuid4().hex[:4]}"
    state = EscalationState(
        escalation_id=escalation_id,
        case_id=case.case_id,
        appointment_id=case.appointment_id,
        kind=CaseKind.BOOKING_CONFLICT,
        reason=reason,
        level_name="reps",
        status=EscalationStatus.CLAIMED,
        claimed_by=by,
        sla_deadline=now + timedelta(hours=4),
        pending_approval=Money(amount=Decimal("20.00")),
        opened_at=now,
    )
    escalations.record(
        store,
        EscalationRecord(
            state=state, what="escalation_claimed", seq=1, detail={"by": by}, policy=EscalationPolicy()
        ),
    )
    return escalation_id
