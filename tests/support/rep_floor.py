"""Reps on the floor of the real system, driven from outside: shared by the routing fault test
(tests/e2e/test_routing_faults.py) and the routing benchmark (bench/routing.py).

The system is tests/support/system.py's System (how="processes", every provider local). What a deployment's
reps and patients do arrives the way it would:
- the router (workflows/rep_router.py) is started here with the floor's rules the processes were given
  (`routing_env`), and reps go available through its Update `set_presence`, each with a phone;
- a patient books (a signed `appointment_booked` event whose slot is a few minutes away, with
  CHECKIN_PROMPT_LEAD_MINUTES making the check-in prompt go at once) and, once the watch listens, texts
  trouble through the signed Twilio SMS webhook;
- the rep's phone ringing is the local phone's record of the offer call (`local_deliveries`, its
  `gather_action_url` names the offer); the rep presses a key by the signed POST Twilio's <Gather> makes
  (`/webhooks/twilio/voice/offer?offer=…`), and the call's end is Twilio's signed status callback for the
  rep's leg (`/webhooks/twilio/voice/status?ref=<case>:<key>&leg=rep&offer=…`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from sqlalchemy import select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from twilio.request_validator import RequestValidator

from domain.escalation import EscalationState
from domain.routing import (
    Floor,
    PresenceChange,
    RepView,
    RouterInput,
    RoutingPolicy,
    offer_call_key,
    router_workflow_id,
)
from store.db import Store
from store.models import Case, CheckInWatchRow, LocalDelivery, OutboundMessageRow, TimelineItem
from tests.support.settings import TEST_CONVERTER, example_event
from tests.support.system import TWILIO_TOKEN, System

FROM_NUMBER = "+15005550006"  # TWILIO_FROM_NUMBER's local default: what the patient texts
TROUBLE = "The kiosk will not take my insurance card"
# the prompt goes CHECKIN_PROMPT_LEAD_MINUTES before the start: a slot 5 minutes away is prompted at once
PROMPT_LEAD_MINUTES = 10
SLOT_IN_MINUTES = 5

# one client for every post, a new connection each (as Twilio's requests are)
HTTP = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=30)


def routing_env(policy: RoutingPolicy) -> dict[str, str]:
    """The processes' environment for the floor's rules and an immediate check-in prompt."""
    return {
        "ROUTING__OFFER_SECONDS": str(policy.offer_seconds),
        "ROUTING__MAX_MISSED": str(policy.max_missed),
        "ROUTING__WRAP_UP_SECONDS": str(policy.wrap_up_seconds),
        "ROUTING__AUTO_CALL_REASONS": ",".join(policy.auto_call_reasons),
        "CHECKIN_PROMPT_LEAD_MINUTES": str(PROMPT_LEAD_MINUTES),
    }


# --------------------------------------------------------------------------- the router, over Temporal


async def connect(system: System) -> Client:
    """A client of the system's dev server, with the codec key its processes share (System's CODEC_KEYS)."""
    return await Client.connect(f"127.0.0.1:{system.temporal_port}", data_converter=TEST_CONVERTER)


def router(client: Client, system: System) -> Any:
    return client.get_workflow_handle(router_workflow_id(system.env["TASK_QUEUE"]))


async def start_router(client: Client, system: System, policy: RoutingPolicy) -> None:
    """The floor, as the first escalation's submit would start it (the same rules, the same id)."""
    await client.start_workflow(
        "RepRouter",
        RouterInput(policy=policy, public_base_url=system.base),
        id=router_workflow_id(system.env["TASK_QUEUE"]),
        task_queue=system.env["TASK_QUEUE"],
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def presence(client: Client, system: System, user: str, status: str, phone: str | None) -> RepView:
    change = PresenceChange(user=user, status=status, phone=phone, by=user)
    view: RepView = await router(client, system).execute_update("set_presence", change, result_type=RepView)
    return view


async def floor(client: Client, system: System) -> Floor:
    found: Floor = await router(client, system).query("floor", result_type=Floor)
    return found


async def escalation(client: Client, escalation_id: str) -> EscalationState:
    state: EscalationState = await client.get_workflow_handle(escalation_id).query(
        "current", result_type=EscalationState
    )
    return state


def floor_problems(seen: Floor) -> list[str]:
    """What a floor must never show: a rep offered two things, work offered to two reps, an offer and its
    rep or work that disagree."""
    problems: list[str] = []
    by_rep: dict[str, list[str]] = {}
    by_work: dict[str, list[str]] = {}
    for offer in seen.offers.values():
        by_rep.setdefault(offer.user, []).append(offer.offer_id)
        by_work.setdefault(offer.work_id, []).append(offer.offer_id)
        rep = seen.reps.get(offer.user)
        if rep is None or rep.offer_id != offer.offer_id or rep.status.value != "offered":
            problems.append(f"offer {offer.offer_id} to {offer.user}, who shows {rep}")
        item = next((w for w in seen.queue if w.work_id == offer.work_id), None)
        if item is None or item.offer_id != offer.offer_id:
            problems.append(f"offer {offer.offer_id} for work the queue shows as {item}")
    problems += [f"{user} holds {ids}" for user, ids in by_rep.items() if len(ids) > 1]
    problems += [f"{work} offered to {ids}" for work, ids in by_work.items() if len(ids) > 1]
    for rep in seen.reps.values():
        if rep.status.value == "offered" and rep.offer_id not in seen.offers:
            problems.append(f"{rep.user} offered {rep.offer_id}, which is not out")
    return problems


# --------------------------------------------------------------------------- patients


@dataclass
class Patient:
    phone: str
    event: dict[str, Any]
    trouble_at: float = 0.0  # wall clock when the trouble text was posted
    answer: int = 0  # the webhook's HTTP status

    @property
    def appointment_id(self) -> str:
        return str(self.event["data"]["appointment_id"])


def make_patients(count: int) -> list[Patient]:
    """One patient, appointment and provider each, the slot a few minutes away."""
    run = uuid.uuid4().hex[:6]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=SLOT_IN_MINUTES)
    slot = {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}
    people = []
    for i in range(count):
        phone = f"+3162{int(run, 16) % 1000:03d}{i:04d}"
        event = example_event("appointment_booked.json")
        event["data"]["patient"].update(id=f"pat-{run}-{i}", phone=phone, email=f"pat-{run}-{i}@example.com")
        event["data"]["provider"].update(id=f"prov-{run}-{i}")
        event["data"]["slot"] = slot
        people.append(Patient(phone, event))
    return people


def book(system: System, patient: Patient) -> None:
    answer = system.post_event(patient.event)
    assert answer.status_code == 202, answer.text


def listening(store: Store, patients: list[Patient]) -> int:
    """How many of these patients' check-in watches have prompted and listen for an answer."""
    ids = [p.appointment_id for p in patients]
    with store.session() as s:
        statuses = s.scalars(select(CheckInWatchRow.status).where(CheckInWatchRow.appointment_id.in_(ids)))
        return sum(status == "listening" for status in statuses)


def signed_post(system: System, path_and_query: str, params: dict[str, str]) -> httpx.Response:
    """A webhook as Twilio sends it: form-encoded, signed over PUBLIC_BASE_URL + path + query."""
    url = f"{system.base}{path_and_query}"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return HTTP.post(url, data=params, headers={"X-Twilio-Signature": signature})


def text_trouble(system: System, patient: Patient, body: str = TROUBLE) -> httpx.Response:
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32, "From": patient.phone,
              "To": FROM_NUMBER, "Body": body, "NumMedia": "0"}  # fmt: skip
    patient.trouble_at = time.time()
    answer = signed_post(system, "/webhooks/twilio/sms", params)
    patient.answer = answer.status_code
    return answer


def trouble_case(store: Store, patient: Patient) -> Case | None:
    with store.session() as s:
        case: Case | None = s.scalars(
            select(Case).where(Case.appointment_id == patient.appointment_id, Case.kind == "checkin_trouble")
        ).first()
        return case


# --------------------------------------------------------------------------- reps' phones


@dataclass(frozen=True)
class Ring:
    """One offer call as the local phone received it."""

    delivery_id: int
    offer_id: str
    to: str
    call_sid: str
    created_at: datetime
    call_status: str | None
    ended_at: datetime | None

    @property
    def escalation_id(self) -> str:
        return self.offer_id.rpartition(".o")[0]

    @property
    def case_id(self) -> str:
        """`esc-<case_id>-<n>.o<k>` → `<case_id>`."""
        return self.escalation_id.removeprefix("esc-").rpartition("-")[0]


def offer_of(url: str | None) -> str | None:
    if not url or "/webhooks/twilio/voice/offer" not in url:
        return None
    return parse_qs(urlsplit(url).query).get("offer", [None])[0]


def rings(store: Store, phones: list[str] | None = None, after_id: int = 0) -> list[Ring]:
    """The offer calls the local phone took (to `phones`, if given), oldest first."""
    query = select(LocalDelivery).where(
        LocalDelivery.channel == "voice",
        LocalDelivery.gather_action_url.is_not(None),
        LocalDelivery.id > after_id,
    )
    if phones is not None:
        query = query.where(LocalDelivery.to_address.in_(phones))
    with store.session() as s:
        rows = s.scalars(query.order_by(LocalDelivery.id)).all()
        found = []
        for row in rows:
            offer_id = offer_of(row.gather_action_url)
            if offer_id is None:
                continue
            created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
            ended = row.call_ended_at
            if ended is not None and ended.tzinfo is None:
                ended = ended.replace(tzinfo=UTC)
            found.append(
                Ring(row.id, offer_id, row.to_address, row.provider_id, created, row.call_status, ended)
            )
        return found


def offer_rows(store: Store, offer_ids: list[str]) -> dict[str, int]:
    """How many send-once rows each offer's call has (`offer-<id>`; one, or the offer rang twice)."""
    keys = {offer_call_key(o): o for o in offer_ids}
    counts = dict.fromkeys(offer_ids, 0)
    with store.session() as s:
        for key in s.scalars(
            select(OutboundMessageRow.key).where(
                OutboundMessageRow.key.in_(list(keys)), OutboundMessageRow.channel == "voice"
            )
        ):
            counts[keys[key]] += 1
    return counts


def press(system: System, ring: Ring, digits: str = "1") -> httpx.Response:
    """The rep answers the offer call and presses `digits`: Twilio's <Gather> action."""
    params = {"CallSid": ring.call_sid, "AccountSid": "AC" + "0" * 32, "From": FROM_NUMBER, "To": ring.to,
              "Digits": digits, "CallStatus": "in-progress", "Direction": "outbound-api"}  # fmt: skip
    return signed_post(system, f"/webhooks/twilio/voice/offer?{urlencode({'offer': ring.offer_id})}", params)


def call_ended(system: System, ring: Ring, seconds: int) -> httpx.Response:
    """Twilio's status callback for the end of the rep's leg of an offer call (`completed`)."""
    query = urlencode({"ref": f"{ring.case_id}:{offer_call_key(ring.offer_id)}", "leg": "rep",
                       "offer": ring.offer_id})  # fmt: skip
    params = {"CallSid": ring.call_sid, "AccountSid": "AC" + "0" * 32, "From": FROM_NUMBER, "To": ring.to,
              "CallStatus": "completed", "CallDuration": str(seconds)}  # fmt: skip
    return signed_post(system, f"/webhooks/twilio/voice/status?{query}", params)


def connected(twiml: str) -> bool:
    """The answer to a rep's 1 dials the patient in; any other answer says goodbye."""
    return "<Dial" in twiml


def timeline(store: Store, case_id: str) -> list[str]:
    """The case's timeline entries, oldest first (what happened, by name)."""
    with store.session() as s:
        return list(
            s.scalars(
                select(TimelineItem.what).where(TimelineItem.case_id == case_id).order_by(TimelineItem.id)
            )
        )
