"""The simulated patients who are not on the phone: a booking conflict's patient, an appointment's patient at
check-in, a patient writing to support. Everything about one is drawn when they arrive (simulation/engine.py
draws them in arrival order from the day's one `random.Random`), so what they do does not depend on what
the system did; only *when* they do it does (they answer a message some time after it reached them).

Pure: no I/O. The events they cause are CloudEvents as the booking system posts them (CONTRACT.md)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from simulation.model import Behaviour

Kind = Literal["conflict", "checkin", "writer"]
# what a patient does with the first offer or prompt that reaches them
Reaction = Literal["choice", "person", "stop", "all_good", "trouble", "none"]

MOBILE = "+3162{:07d}"  # Dutch mobile numbers: texts reach them
LANDLINE = "+3120{:07d}"  # Amsterdam landlines: texts do not
PRACTICE = {
    "id": "prac-sim",
    "name": "Simulated Practice",
    "phone": "+12125550100",
    "timezone": "Europe/Amsterdam",
}
PROVIDERS = 12  # the practice group's doctors: conflicts spread over their calendars
# a conflict is about an appointment this far ahead of its arrival; the new slots offered follow it
CONFLICT_LEAD = timedelta(days=2)
APPOINTMENT_LENGTH = timedelta(minutes=30)
# an appointment is booked this long before its check-in time (the watch waits for the time)
BOOKED_BEFORE = timedelta(minutes=15)
TROUBLE_TEXT = "The form will not load, I cannot check in"
ALL_GOOD_TEXT = "ok"
WRITER_TEXT = "Hello, can I bring my daughter to my appointment next week? And is there parking nearby?"


@dataclass
class Patient:
    n: int
    kind: Kind
    arrives: float  # seconds into the run: the conflict's event, the check-in time, the email
    phone: str
    email: str
    reaction: Reaction
    reply_delay: float  # seconds from the message reaching them to their answer
    handle: float  # seconds a rep spends on them (a call, an email's answer), should one be needed
    # the offers and prompts they have answered (or chosen to ignore): one answer to each, by its round
    seen: set[str] = field(default_factory=set)

    @property
    def patient_id(self) -> str:
        return f"pat-sim-{self.n:06d}"

    @property
    def appointment_id(self) -> str:
        return f"appt-sim-{self.n:06d}"


def draw(
    rng: random.Random, shares: Behaviour, kind: Kind, n: int, arrives: float, handle_seconds: float
) -> Patient:
    """One patient, everything about them drawn now, in a fixed order (the same seed, the same day)."""
    landline = rng.random() < shares.landline
    pick = rng.random()
    reaction: Reaction = "none"
    if kind == "conflict":
        for name, share in (
            ("choice", shares.offer_answered),
            ("person", shares.offer_asks_for_person),
            ("stop", shares.offer_stop),
        ):
            if pick < share:
                reaction = name  # type: ignore[assignment]
                break
            pick -= share
    elif kind == "checkin":
        if pick < shares.checkin_all_good:
            reaction = "all_good"
        elif pick < shares.checkin_all_good + shares.checkin_trouble:
            reaction = "trouble"
    delay = rng.expovariate(1 / shares.reply_mean_seconds)
    handle = rng.expovariate(1 / handle_seconds)
    phone = (LANDLINE if landline and kind != "writer" else MOBILE).format(n)
    return Patient(n, kind, arrives, phone, f"patient{n:06d}@sim.example", reaction, delay, handle)


def booking_event(patient: Patient, event_type: str, sent_at: datetime, slot_start: datetime) -> bytes:
    """The booking system's CloudEvent for this patient's appointment (CONTRACT.md, "Events in")."""
    body = {
        "specversion": "1.0",
        "id": f"evt-sim-{patient.n:06d}-{event_type.rsplit('.', 1)[-1]}",
        "source": "simulation",
        "type": event_type,
        "time": sent_at.isoformat(),
        "data": {
            "appointment_id": patient.appointment_id,
            "patient": {
                "id": patient.patient_id,
                "name": f"Patient {patient.n}",
                "phone": patient.phone,
                "email": patient.email,
                "locale": "en",
                "timezone": "Europe/Amsterdam",
            },
            "practice": PRACTICE,
            "provider": {
                "id": f"prov-sim-{patient.n % PROVIDERS}",
                "name": f"Dr. Sim {patient.n % PROVIDERS}",
                "specialty": "general practice",
            },
            "slot": {
                "start": slot_start.isoformat(),
                "end": (slot_start + APPOINTMENT_LENGTH).isoformat(),
            },
            **({"cause": "practice_calendar_out_of_sync"} if patient.kind == "conflict" else {}),
        },
    }
    return json.dumps(body).encode()


def question_of(key: str) -> str | None:
    """Which question a message asks, by its step's send-once key: an offer round (`offer-2` for
    offer-2-sms, offer-2-call, …) or a check-in prompt; None for news that asks nothing."""
    if key.startswith("checkin-prompt-"):
        return "checkin"
    if key.startswith("offer-"):
        return "-".join(key.split("-")[:2])
    return None


def answer_to(patient: Patient, channel: str) -> str | None:
    """What the patient writes (or keys) in answer to an offer or a check-in prompt; None: nothing."""
    if patient.reaction == "choice":
        return "1"
    if patient.reaction == "person":
        return "0"
    if patient.reaction == "stop":
        return None if channel == "voice" else "STOP"
    if patient.reaction == "all_good":
        return ALL_GOOD_TEXT
    if patient.reaction == "trouble":
        return TROUBLE_TEXT
    return None
