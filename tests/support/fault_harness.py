"""Faults at random points, counted from outside: shared by the suite's fault test (tests/e2e/test_faults.py,
~20 cases) and the benchmark (bench/faults.py, 200 cases).

The real system runs as separate processes, as `make run` starts them (tests/support/system.py's System with
how="processes": the Temporal dev server with its state in a file under VAR_DIR, `worker.py`, the web app
under uvicorn), with every provider `local`: the
local phone, mailbox and gift-card book are the providers' own records of what reached them, so they are
what is counted. Clients post signed events over real HTTP and, like real ones, resend the same event (same
id) when they got no answer; patients answer their offer by a signed Twilio webhook so the cases finish.
Meanwhile processes are killed with SIGKILL and restarted (a supervisor would restart them), the Temporal
server is killed and restarted on its file, and the database can be cut off through a TCP proxy.

At the end three figures, each of which must be zero:
- lost cases: an event answered 202 (or 200 to a resend: a duplicate) whose case is missing or never finished;
- duplicate messages: the same message of the same case (same step) delivered to the provider twice;
- double payments: a case with more than one gift-card order or more than one paid ledger entry.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import random
import socket
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from domain.ids import gift_card_key
from store.db import Store
from store.models import Case, GiftCardOrder, LedgerEntry, LocalDelivery
from tests.support.http import post_event
from tests.support.settings import example_event
from tests.support.system import SECRET, TWILIO_TOKEN, System

FINISHED = ("resolved", "closed")


# every client and patient sends through one httpx client, still a new connection per send: httpx.post
# builds a client (and its TLS context) each call, ~28 ms of CPU the machine under test would pay for
HTTP = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))


def log(message: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- a database outage


class TcpProxy:
    """A TCP proxy in front of the database that the harness can cut: while cut, every open connection is
    dropped and new ones are refused (as a database that went away). The machine's PostgreSQL is never
    touched."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.cut_off = threading.Event()
        self.open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self.open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
                with self._lock:
                    self.open.discard(sock)

    def cut(self) -> None:
        self.cut_off.set()
        with self._lock:
            victims = list(self.open)
        for sock in victims:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.cut_off.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


class SqliteLock:
    """SQLite has no server to cut off: the nearest outage is a writer holding the file's lock, so every
    other write waits (the store's busy timeout is 30 s) until it lets go."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def cut(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN EXCLUSIVE")

    def restore(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


class Outage(Protocol):
    def cut(self) -> None: ...
    def restore(self) -> None: ...


# --------------------------------------------------------------------------- clients and patients


def _retrying_post(send: Callable[[], httpx.Response], deadline: float) -> tuple[httpx.Response, int]:
    """What a real client does: no answer (connection refused or reset, a timeout) or a 5xx, so send the
    same thing again a moment later. Returns the answer and how many sends it took."""
    attempts = 0
    while True:
        attempts += 1
        try:
            answer = send()
            if answer.status_code < 500:
                return answer, attempts
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer after {attempts} sends")
        time.sleep(0.3)


@dataclass
class Patient:
    index: int
    phone: str
    email: str
    event: dict[str, Any]
    case_id: str | None = None
    answered: set[int] = field(default_factory=set)


def make_patients(count: int, seed: int) -> list[Patient]:
    """One patient, appointment and provider per case (so the cases do not compete for the same slots and
    each patient's messages are that case's messages)."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    patients: list[Patient] = []
    taken: set[str] = set()
    for i in range(count):
        phone = f"+3161{rng.randrange(10**7):07d}"
        while phone in taken:
            phone = f"+3161{rng.randrange(10**7):07d}"
        taken.add(phone)
        email = f"patient-{run}-{i}@example.com"
        event = example_event()
        event["data"]["patient"].update(id=f"pat-{run}-{i}", phone=phone, email=email)
        event["data"]["provider"].update(id=f"prov-{run}-{i}", specialty=f"specialty-{run}-{i}")
        patients.append(Patient(i, phone, email, event))
    return patients


@dataclass
class Ingest:
    accepted: int = 0
    sends: int = 0
    duplicates_recognised: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def ingest(
    system: System, patients: list[Patient], clients: int, spread_seconds: float, tally: Ingest
) -> None:
    """Post every patient's event from `clients` concurrent clients, spread over `spread_seconds`."""
    todo = list(patients)
    lock = threading.Lock()
    began = time.monotonic()
    gap = spread_seconds / max(len(patients), 1)

    def client() -> None:
        while True:
            with lock:
                if not todo:
                    return
                patient = todo.pop(0)
                due = began + patient.index * gap
            time.sleep(max(0.0, due - time.monotonic()))
            send = functools.partial(post_event, system.base, SECRET, patient.event, timeout=10, http=HTTP)
            answer, sends = _retrying_post(send, time.monotonic() + 180)
            # 202 accepted, or 200 with the case it made already: the first send was stored, its answer lost
            assert answer.status_code in (200, 202), f"{answer.status_code} {answer.text}"
            body = answer.json()
            assert (answer.status_code == 200) == body["duplicate"], body
            patient.case_id = body["case_id"]
            with tally.lock:
                tally.accepted += 1
                tally.sends += sends
                tally.duplicates_recognised += bool(body.get("duplicate"))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def patient_texts(base: str, phone: str, sid: str, body: str) -> httpx.Response:
    params = {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": phone, "To": "+15005550006",
              "Body": body, "NumMedia": "0"}  # fmt: skip
    url = f"{base}/webhooks/twilio/sms"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return HTTP.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)


def is_offer(body: str) -> bool:
    """The numbered choices ("New: 1) Tue 24 Nov 09:00 2) …") or the answer key ("Reply 1-3, 0=call me")."""
    return "1) " in body or "0=" in body


class Answering:
    """Patients read their texts and answer each offer with "1" (the same MessageSid when the web app
    did not answer, as Twilio's connection retries do), until stopped."""

    def __init__(self, system: System, store: Store, patients: list[Patient]) -> None:
        self.system, self.store = system, store
        self.by_phone = {p.phone: p for p in patients}
        self.answers = 0
        self.stopped = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Answering:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self.stopped.is_set():
                for delivery_id, phone in self._unanswered_offers():
                    sid = "SM" + hashlib.sha256(f"{phone}:{delivery_id}".encode()).hexdigest()[:32]
                    send = functools.partial(patient_texts, self.system.base, phone, sid, "1")
                    answer, _ = _retrying_post(send, time.monotonic() + 180)
                    assert answer.status_code == 200, f"{answer.status_code} {answer.text}"
                    self.by_phone[phone].answered.add(delivery_id)
                    self.answers += 1
                self.stopped.wait(0.3)
        except BaseException as exc:  # reported by the scenario
            self.error = exc

    def _unanswered_offers(self) -> list[tuple[int, str]]:
        with self.store.session() as s:
            rows = s.execute(
                select(LocalDelivery.id, LocalDelivery.to_address, LocalDelivery.body).where(
                    LocalDelivery.channel == "sms", LocalDelivery.to_address.in_(list(self.by_phone))
                )
            ).all()
        return [
            (row.id, row.to_address)
            for row in rows
            if is_offer(row.body) and row.id not in self.by_phone[row.to_address].answered
        ]


# --------------------------------------------------------------------------- what is counted


@dataclass
class Figures:
    cases: int
    accepted: int
    sends: int
    duplicates_recognised: int
    finished: int
    lost: int
    lost_cases: list[str]
    outcomes: dict[str, int]
    messages: int
    duplicate_messages: int
    duplicated: list[str]
    payments: int
    double_payments: int
    kills: dict[str, int]
    unexpected_exits: dict[str, int]
    case_seconds: tuple[float, float] = (0.0, 0.0)  # opened to closed: p50, max
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"cases           {self.cases} events, {self.accepted} accepted after {self.sends} sends "
            f"({self.duplicates_recognised} resends of a stored event answered 200 duplicate)",
            f"finished        {self.finished} ({dict(sorted(self.outcomes.items()))}), "
            f"case opened to closed p50 {self.case_seconds[0]:.0f}s, max {self.case_seconds[1]:.0f}s",
            f"lost cases      {self.lost} {self.lost_cases[:5]}",
            f"messages        {self.messages} delivered, "
            f"duplicate messages per step {self.duplicate_messages} {self.duplicated[:5]}",
            f"payments        {self.payments} gift cards, double payments {self.double_payments}",
            f"faults          kills {dict(self.kills)}, exits on their own {dict(self.unexpected_exits)}",
            f"took            {self.seconds:.1f}s",
        ]


def finished_cases(store: Store, patients: list[Patient]) -> int:
    ids = [p.case_id for p in patients if p.case_id]
    with store.session() as s:
        return int(
            s.scalar(select(func.count()).where(Case.case_id.in_(ids), Case.status.in_(FINISHED))) or 0
        )


def count(store: Store, patients: list[Patient], tally: Ingest, system: System) -> Figures:
    ids = [p.case_id for p in patients if p.case_id]
    addresses = [p.phone for p in patients] + [p.email for p in patients]
    with store.session() as s:
        cases = {c.case_id: c for c in s.scalars(select(Case).where(Case.case_id.in_(ids)))}
        deliveries = s.execute(
            select(LocalDelivery.channel, LocalDelivery.to_address, LocalDelivery.subject, LocalDelivery.body)
            .where(LocalDelivery.to_address.in_(addresses))
        ).all()  # fmt: skip
        keys = {gift_card_key(case_id): case_id for case_id in ids}
        refs = s.scalars(select(GiftCardOrder.external_ref).where(GiftCardOrder.external_ref.in_(keys)))
        orders = Counter(keys[ref] for ref in refs)
        issued = LedgerEntry.case_id.in_(ids), LedgerEntry.status == "issued"
        paid = Counter(s.scalars(select(LedgerEntry.case_id).where(*issued)))
    lost = [p.event["id"] for p in patients if not p.case_id or p.case_id not in cases]
    lost += [p.case_id for p in patients if p.case_id in cases and cases[p.case_id].status not in FINISHED]
    # each patient has one case, so (address, body) is one step of one case
    sent = Counter((d.channel, d.to_address, d.subject, d.body) for d in deliveries)
    duplicated = [f"{to}: {body[:40]!r} x{n}" for (_, to, _, body), n in sent.items() if n > 1]
    took = sorted((c.closed_at - c.opened_at).total_seconds() for c in cases.values() if c.closed_at)
    return Figures(
        cases=len(patients),
        accepted=tally.accepted,
        sends=tally.sends,
        duplicates_recognised=tally.duplicates_recognised,
        finished=sum(c.status in FINISHED for c in cases.values()),
        lost=len(lost),
        lost_cases=[str(x) for x in lost],
        outcomes=dict(Counter(str(c.outcome) for c in cases.values())),
        messages=len(deliveries),
        duplicate_messages=sum(n - 1 for n in sent.values()),
        duplicated=duplicated,
        payments=sum(max(orders[c], paid[c]) for c in ids),
        double_payments=sum(max(orders[c], paid[c]) - 1 for c in ids if max(orders[c], paid[c]) > 1),
        kills=dict(system.kills),
        unexpected_exits=dict(system.unexpected_exits),
        case_seconds=(took[len(took) // 2], took[-1]) if took else (0.0, 0.0),
    )


# --------------------------------------------------------------------------- a scenario


@dataclass
class Scenario:
    cases: int = 20
    clients: int = 4
    ingest_seconds: float = 4.0  # events are spread over this long, so the web app can die mid-ingest
    web_kills_at: tuple[int, ...] = (8,)  # kill the web app when this many events have been accepted
    worker_kills: int = 3
    temporal_kills: int = 0
    db_outage_seconds: float = 0.0
    deadline_seconds: float = 240.0
    seed: int = 1


@contextlib.contextmanager
def running(system: System) -> Iterator[System]:
    try:
        system.start()
        yield system
    finally:
        system.close()


def run(scenario: Scenario, system: System, store: Store, outage: Outage | None = None) -> Figures:
    """Start the system, post the events, let patients answer, inject the faults, wait until every
    accepted case has finished (or the deadline), and count.

    The worker, Temporal and database faults land at random points of the work itself: progress is
    events accepted + offers answered + cases finished (3 per case), and each fault waits for a random
    progress mark, so a fault can hit any step of any case but never lands after everything is done."""
    rng = random.Random(scenario.seed)
    patients = make_patients(scenario.cases, scenario.seed)
    tally = Ingest()
    began = time.monotonic()
    total = 3 * scenario.cases
    marks: list[tuple[int, str]] = [(rng.randrange(1, total), "worker") for _ in range(scenario.worker_kills)]
    marks += [(rng.randrange(total // 10, total), "temporal") for _ in range(scenario.temporal_kills)]
    if scenario.db_outage_seconds:
        assert outage is not None, "a database outage needs a way to cut the database off"
        marks.append((rng.randrange(total // 10, total // 2), "database"))
    marks.sort()
    stop = threading.Event()
    answering = Answering(system, store, patients)

    def progress() -> int:
        return tally.accepted + answering.answers + finished_cases(store, patients)

    def faults() -> None:
        for mark, what in marks:
            while progress() < mark:
                if stop.wait(0.1):
                    return
            if what == "database":
                assert outage is not None
                log(f"database cut off for {scenario.db_outage_seconds:.0f}s (progress {mark}/{total})")
                outage.cut()
                stop.wait(scenario.db_outage_seconds)
                outage.restore()
                log("database back")
            else:
                log(f"progress {mark}/{total}")
                system.kill(what, down_for=rng.uniform(0.5, 2.0) if what == "temporal" else 0.2)

    def web_kills() -> None:
        for at in scenario.web_kills_at:
            while tally.accepted < at:
                if stop.wait(0.02):
                    return
            system.kill("web", down_for=0.5)

    with running(system), answering:
        chaos = [threading.Thread(target=f, daemon=True) for f in (faults, web_kills)]
        for thread in chaos:
            thread.start()
        ingest(system, patients, scenario.clients, scenario.ingest_seconds, tally)
        log(f"{tally.accepted} events accepted after {tally.sends} sends")
        deadline = began + scenario.deadline_seconds
        while time.monotonic() < deadline and answering.error is None:
            done = finished_cases(store, patients)
            if done == len(patients) and not any(t.is_alive() for t in chaos):
                break
            time.sleep(0.5)
        stop.set()
        for thread in chaos:
            thread.join(timeout=60)
        if answering.error is not None:
            raise answering.error
        figures = count(store, patients, tally, system)
        figures.seconds = time.monotonic() - began
        if figures.lost:
            for name in ("worker", "web"):
                log(f"{name} log:\n{system.tail(name)}")
    return figures
