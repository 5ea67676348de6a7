"""Stored events → workflow starts and signals: the inline dispatch right after an event is accepted, the
relay loop that acts on what still waits (and drains the webhook spool, and runs the reconciler).

Workflows are started and signalled by their type and signal NAMES, never through their classes: the web
process that dispatches does not load workflows/ or activities/. The names, workflow ids, id policies and
arguments are the ones the workflows declare (workflows/booking_conflict.py, workflows/checkin.py,
workflows/inquiry.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from config import Settings
from dispatch.connection import connect, not_found
from dispatch.reconciler import Reconciler
from domain import feedback, ids, inbound_email, inquiry, replies, routing
from domain.base import CaseKind
from domain.booking_conflict import BookingConflictInput
from domain.checkin import CheckInWatchInput, WatchCancel, WatchMove
from domain.escalation import REPLY_FOR_A_PERSON, EscalationInput
from domain.events import CONFLICT_TYPES, BookingEvent, EventType, Patient
from domain.feedback import FeedbackReply
from domain.inquiry import InquiryInput
from domain.messaging import Channel, DeliveryProblem, PatientReply
from domain.routing import OfferCallStatus, PatientCallResult, RouterInput
from store import callbacks, inbox, relay, spool, support_calls
from store import inbound_email as emails
from store.db import Store, database_unavailable
from store.models import Case, ReceivedEvent

log = logging.getLogger("makeright.dispatch")

# the workflow types and signals started and sent here, by name (declared in workflows/)
BOOKING_CONFLICT_WORKFLOW = "BookingConflictRecovery"  # workflows/booking_conflict.py
CHECKIN_WATCH_WORKFLOW = "CheckInWatch"  # workflows/checkin.py
INQUIRY_WORKFLOW = "Inquiry"  # workflows/inquiry.py
ESCALATION_WORKFLOW = "Escalation"  # workflows/escalation.py
ROUTER_WORKFLOW = "RepRouter"  # workflows/rep_router.py
WATCH_MOVE_SIGNAL = "move"  # the watch's signals
WATCH_CANCEL_SIGNAL = "cancel"

# workflow starts and signals one relay pass sends at once (each a round trip to Temporal): one at a time
# held a relay to about 50 events a second however many were waiting after a burst
RELAY_CONCURRENCY = 16

# After Temporal did not answer (refused, unavailable, or slower than the inline wait), the inline dispatch
# and the relay leave it alone this long: requests stop paying for a claim and a failed call each, and the
# stored events wait for the next relay pass.
TEMPORAL_AWAY_PAUSE_SECONDS = 1.0

# how long a request (POST /events, a dead letter resubmitted) waits for its inline dispatch
DISPATCH_WAIT_SECONDS = relay.INLINE_WAIT.total_seconds()


class Dispatcher:
    """Acts on what the inbox holds: starts a case's workflow, or signals a patient's answer to it."""

    def __init__(self, settings: Settings, store: Store, client: Client | None = None) -> None:
        self.settings = settings
        self.store = store
        self._client = client
        self._connect_lock = asyncio.Lock()
        # names this process's claims on inbox rows (several relays may run at once)
        self.relay_batch = 100
        self.relay_busy = False  # the last pass took a full batch: more is waiting
        self.relay_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.reconciler = Reconciler(store, self.client)
        self.reconcile_every = 15.0
        # webhooks that came while the database was away (web/twilio_hooks.py), taken in by the relay loop
        self.spool = spool.Spool(settings.var_dir)
        self._temporal_away_until = 0.0
        self._inline_in_flight = 0

    async def client(self) -> Client:
        async with self._connect_lock:
            if self._client is None:
                self._client = await connect(self.settings)
            return self._client

    def temporal_away(self) -> bool:
        """Temporal failed to answer less than TEMPORAL_AWAY_PAUSE_SECONDS ago."""
        return time.monotonic() < self._temporal_away_until

    def _note_temporal_away(self) -> None:
        self._temporal_away_until = time.monotonic() + TEMPORAL_AWAY_PAUSE_SECONDS

    async def dispatch(self, event_row_id: int) -> None:
        """Act on one stored event now (inline, right after it was accepted), if no relay holds it. Gives
        up after `relay.INLINE_WAIT`; the claim's short lease (`relay.INLINE_LEASE`) then lets the relay
        take over within seconds, as it does when this process dies mid-dispatch. Errors leave the event
        pending for the relay; never raises. Does nothing (the relay acts on the event) while Temporal is
        away or when `inline_dispatch_limit` dispatches are already under way in this process."""
        if self.temporal_away() or self._inline_in_flight >= self.settings.inline_dispatch_limit:
            return
        self._inline_in_flight += 1
        try:
            await self._dispatch_inline(event_row_id)
        finally:
            self._inline_in_flight -= 1

    async def _dispatch_inline(self, event_row_id: int) -> None:
        try:
            held = await asyncio.to_thread(
                relay.claim, self.store, self.relay_id, [event_row_id], lease=relay.INLINE_LEASE
            )
            if held:
                await asyncio.wait_for(self._act_on_claimed(event_row_id), relay.INLINE_WAIT.total_seconds())
        except TimeoutError:
            self._note_temporal_away()
            log.warning("event %s not dispatched yet: Temporal slow; the relay takes it over", event_row_id)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            # stored already: the relay acts on it (its lease lapses) once the database is back
            log.warning(
                "event %s not dispatched yet: database unavailable (%s)", event_row_id, type(exc).__name__
            )

    async def _act_on_claimed(self, event_row_id: int) -> None:
        try:
            status = await self._dispatch(event_row_id)
        except (RPCError, OSError, RuntimeError) as exc:
            if not isinstance(exc, RPCError) or exc.status in (
                RPCStatusCode.UNAVAILABLE,
                RPCStatusCode.DEADLINE_EXCEEDED,
            ):
                self._note_temporal_away()  # not answering (a refused connect is a RuntimeError)
            log.warning("event %s not dispatched yet: %s", event_row_id, type(exc).__name__)
            await asyncio.to_thread(
                relay.finish, self.store, event_row_id, self.relay_id, "pending", type(exc).__name__
            )
            return
        await asyncio.to_thread(relay.finish, self.store, event_row_id, self.relay_id, status)

    async def _dispatch(self, event_row_id: int) -> str:
        row, case = await asyncio.to_thread(inbox.stored_event, self.store, event_row_id)
        if row.source == "booking":
            event = BookingEvent.model_validate(row.parsed)
            if event.type in CONFLICT_TYPES:
                if case is None:
                    return "deferred"
                await self._start_booking_conflict(event, case)
                return "dispatched"
            return await self._steer_checkin_watch(event)
        if row.source == inquiry.SOURCE:
            return await self._start_inquiry(row)
        if row.source == support_calls.SOURCE:
            return await self._tell_router(row.parsed)
        if row.source == emails.WORK_SOURCE:
            return await self._email_work(str(row.parsed["email_id"]), str(row.parsed["step"]))
        if row.source in callbacks.SOURCES and row.parsed.get("offer"):
            return await self._offer_call_progress(str(row.parsed["offer"]), row.parsed)
        if row.source in callbacks.SOURCES:
            if row.workflow_id is None:
                return "unrouted"
            problem = DeliveryProblem(
                channel=Channel(row.parsed["channel"]),
                key=str(row.parsed["key"]),
                status=str(row.parsed["status"]),
                provider_ref=row.external_id,
            )
            return await self._signal(row.workflow_id, "delivery_failed", problem)
        if row.parsed.get("route") == inbox.PERSON:
            if row.workflow_id is None or case is None:
                return "unrouted"
            return await self._hand_reply_to_a_person(row.workflow_id, case)
        # a case's workflow, or the check-in watch the inbox routed the reply to
        workflow_id = row.workflow_id or (case.workflow_id if case else None)
        if workflow_id is None:
            return "unrouted"
        if workflow_id.startswith(ids.FEEDBACK_PREFIX):
            # an answer to the request to rate a resolved case: its score and comment, read here
            said = feedback.parse(str(row.parsed.get("text", "")))
            answer = FeedbackReply(
                score=said.score,
                comment=said.comment,
                opt_out=said.opt_out,
                channel=Channel(row.parsed.get("channel", "sms")),
                received_at=row.received_at,
                provider_ref=row.external_id,
            )
            return await self._signal(workflow_id, "feedback_replied", answer)
        # understood here, once, at ingress: the signal carries the intent; the text stays in the store
        understood = replies.understand(str(row.parsed.get("text", "")))
        reply = PatientReply(
            channel=Channel(row.parsed.get("channel", "sms")),
            intent=understood.intent,
            choice=understood.choice,
            received_at=row.received_at,
            provider_ref=row.external_id,
        )
        # by name: booking-conflict cases, check-in watches and check-in cases all take `patient_replied`
        return await self._signal(workflow_id, "patient_replied", reply)

    async def _start_inquiry(self, row: ReceivedEvent) -> str:
        """An email from a sender with no case opened an inquiry (store/inbound_email.py): its workflow."""
        if row.case_id is None or row.workflow_id is None:
            return "unrouted"
        case_input = InquiryInput(
            case_id=row.case_id,
            email_id=str(row.parsed["email_id"]),
            patient=Patient.model_validate(row.parsed["patient"]),
            policy=self.settings.policy,
            public_base_url=self.settings.public_base_url,
        )
        await self._start_once(INQUIRY_WORKFLOW, case_input, row.workflow_id)  # one case, one workflow
        return "dispatched"

    async def _offer_call_progress(self, offer_id: str, parsed: dict[str, object]) -> str:
        """A rep's offer call: the rep's phone rang out or the call ended (the floor hears it), or the
        patient dialled in did not answer (their escalation hears it)."""
        status = str(parsed["status"])
        if parsed.get("leg") == "patient":
            parts = routing.offer_id_parts(offer_id)
            if parts is None:
                return "unrouted"
            result = PatientCallResult(offer_id=offer_id, status=status)
            return await self._signal(parts[0], "patient_not_reached", result)
        router = routing.router_workflow_id(self.settings.task_queue)
        report = OfferCallStatus(offer_id=offer_id, status=status)
        return await self._signal(router, "offer_call_status", report)

    async def _tell_router(self, parsed: dict[str, Any]) -> str:
        """A call to the support line (store/support_calls.py): withdraw what no longer needs a rep (the
        caller hung up, or asked for a callback), then offer what does, starting the router when none runs
        (signal-with-start, as activities/routing.submit_work does). The router ignores work it has (or
        handled lately), so a relay's retry offers nothing twice."""
        router = routing.router_workflow_id(self.settings.task_queue)
        for work_id in parsed.get("withdraw") or []:
            await self._signal(router, "withdraw_work", routing.WorkWithdrawal(work_id=str(work_id)))
        for work in parsed.get("offer") or []:
            item = routing.WorkItem.model_validate(work)
            await (await self.client()).start_workflow(
                ROUTER_WORKFLOW,
                RouterInput(policy=self.settings.routing, public_base_url=self.settings.public_base_url),
                id=router,
                task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                start_signal="offer_work",
                start_signal_args=[item],
            )
        return "dispatched"

    async def _email_work(self, email_id: str, step: str) -> str:
        """An email that needs a person (store/inbound_email.py): offered to reps as it is now (its case,
        the patient's language); one no longer waiting (understood, answered meanwhile), or answered, is
        done: its offer withdrawn, the rep who took it wrapping up."""
        policy = self.settings.policy
        work = (
            await asyncio.to_thread(
                emails.work_for, self.store, email_id, tuple(policy.locales), policy.default_locale
            )
            if step == "offer"
            else None
        )
        if work is None:
            router = routing.router_workflow_id(self.settings.task_queue)
            done = routing.WorkDone(work_id=inbound_email.work_id_of(email_id))
            return await self._signal(router, "work_done", done)
        return await self._tell_router({"offer": [work.model_dump(mode="json")]})

    async def _hand_reply_to_a_person(self, escalation_id: str, case: Case) -> str:
        """A reply that fitted no open question on the patient's conversation (or two): an escalation on
        their newest case, where the rep reads it with the whole conversation. Nothing waits for it."""
        escalation = EscalationInput(
            escalation_id=escalation_id,
            case_id=case.case_id,
            appointment_id=case.appointment_id,
            kind=CaseKind(case.kind),
            reason=REPLY_FOR_A_PERSON,
            policy=self.settings.policy.escalation,
            patient_phone=case.patient_phone,
            public_base_url=self.settings.public_base_url,
        )
        await self._start_once(ESCALATION_WORKFLOW, escalation, escalation_id)  # one reply, one escalation
        return "dispatched"

    async def _start_once(self, workflow: str, argument: object, workflow_id: str) -> None:
        """Start `workflow` by name under its derived id, once: a relay retry or a second relay that
        starts it again finds the one already running (or closed) and starts nothing."""
        try:
            await (await self.client()).start_workflow(
                workflow,
                argument,
                id=workflow_id,
                task_queue=self.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except WorkflowAlreadyStartedError:
            pass

    async def _signal(self, workflow_id: str, signal: str, argument: object) -> str:
        handle = (await self.client()).get_workflow_handle(workflow_id)
        try:
            await handle.signal(signal, argument)
        except RPCError as exc:
            if not_found(exc):
                return "case_closed"  # the workflow already ended: the report stays on record
            raise
        return "dispatched"

    async def _start_booking_conflict(self, event: BookingEvent, case: Case) -> None:
        case_input = BookingConflictInput(
            case_id=case.case_id,
            event_id=event.id,
            event_type=event.type,
            data=event.data,
            policy=self.settings.policy,
            public_base_url=self.settings.public_base_url,
            reply_token=case.reply_token,
        )
        await self._start_once(
            BOOKING_CONFLICT_WORKFLOW, case_input, case.workflow_id
        )  # one case, one workflow

    async def _steer_checkin_watch(self, event: BookingEvent) -> str:
        """booked → start the appointment's watch; rescheduled → move it (starting one on the new slot when
        none runs: signal-with-start); cancelled → end it (no watch: nothing to end)."""
        client = await self.client()
        data = event.data
        workflow_id = ids.checkin_watch_workflow_id(data.appointment_id)
        if event.type is EventType.APPOINTMENT_CANCELLED:
            try:
                await client.get_workflow_handle(workflow_id).signal(
                    WATCH_CANCEL_SIGNAL, WatchCancel(event_id=event.id)
                )
            except RPCError as exc:
                if not_found(exc):
                    return "ignored"  # no watch runs for it: nothing to end
                raise
            return "dispatched"
        watch_input = CheckInWatchInput(
            appointment_id=data.appointment_id,
            event_id=event.id,
            data=data,
            policy=self.settings.policy,
            public_base_url=self.settings.public_base_url,
            prompt_lead_minutes=self.settings.checkin_prompt_lead_minutes,
            listen_minutes=self.settings.checkin_listen_minutes,
        )
        try:
            if event.type is EventType.APPOINTMENT_RESCHEDULED:
                await client.start_workflow(
                    CHECKIN_WATCH_WORKFLOW,
                    watch_input,
                    id=workflow_id,
                    task_queue=self.settings.task_queue,
                    start_signal=WATCH_MOVE_SIGNAL,
                    start_signal_args=[WatchMove(event_id=event.id, data=data)],
                )
            else:  # booked: a watch already running for the appointment keeps going as it is
                await client.start_workflow(
                    CHECKIN_WATCH_WORKFLOW,
                    watch_input,
                    id=workflow_id,
                    task_queue=self.settings.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
        except WorkflowAlreadyStartedError:
            pass
        return "dispatched"

    async def relay_once(self) -> int:
        """One pass: claim what waits (oldest first, one event per appointment at a time) and act on it,
        `RELAY_CONCURRENCY` at once after the first (the claim holds at most one event of an appointment,
        so their order is kept). Skipped while Temporal is away (see TEMPORAL_AWAY_PAUSE_SECONDS)."""
        self.relay_busy = False
        if self.temporal_away():
            return 0
        held = await asyncio.to_thread(relay.claim, self.store, self.relay_id, None, self.relay_batch)
        gate = asyncio.Semaphore(RELAY_CONCURRENCY)

        async def act(event_row_id: int) -> bool:
            async with gate:
                if self.temporal_away():
                    return False  # Temporal stopped answering during this pass: not tried against it
                await self._act_on_claimed(event_row_id)
                return True

        # the first alone: if Temporal is away, it is tried once and the rest are not tried at all
        acted = [await act(held[0])] if held else []
        acted += await asyncio.gather(*(act(row_id) for row_id in held[1:]))
        # what was not tried waits for the next pass of any relay, not for its lease to lapse
        left = [row_id for row_id, done in zip(held, acted, strict=True) if not done]
        await asyncio.to_thread(relay.release, self.store, left, self.relay_id)
        done = len(held) - len(left)
        # a full batch after a burst: the next pass starts at once instead of after the interval
        self.relay_busy = len(held) == self.relay_batch and done == len(held)
        return done

    async def drain_spool(self) -> int:
        """Take the webhooks spooled during a database outage into the inbox (oldest first), each as the
        webhook would have, and act on them. Raises while the database is still away (they stay spooled);
        an entry that fails otherwise (a bug) is logged and kept for the next pass, without holding up the
        others. Returns how many were taken in."""
        taken = 0
        for entry in await asyncio.to_thread(self.spool.pending):
            try:
                row_id = await asyncio.to_thread(spool.take, self.store, entry)
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                log.exception("spooled webhook %s could not be taken in; kept", entry.id)
                continue
            await asyncio.to_thread(self.spool.forget, entry.id)  # in the inbox now (de-duplicated)
            taken += 1
            if row_id is not None:
                await self.dispatch(row_id)
        if taken:
            log.info("took %s spooled webhook(s) into the inbox", taken)
        return taken

    async def relay_forever(self, interval: float = 2.0) -> None:
        """Take in what was spooled while the database was away, dispatch what waits in the inbox, and every
        `reconcile_every` seconds mark the cases whose workflows ended badly (a failure is noticed well
        within a minute)."""
        next_reconcile = 0.0
        while True:
            await _outlive("spool", self.drain_spool())
            await _outlive("email sweep", asyncio.to_thread(emails.sweep_unrouted, self.store))
            await _outlive("relay", self.relay_once())
            if time.monotonic() >= next_reconcile:
                next_reconcile = time.monotonic() + self.reconcile_every
                await _outlive("reconciler", self.reconciler.once())
            await asyncio.sleep(0 if self.relay_busy else interval)


async def _outlive(what: str, work: Awaitable[object]) -> None:
    """Run one pass of a loop that must outlive any one bad row and any outage: an outage (database or
    Temporal away) is one line a pass, anything else a stack trace, and neither ends the loop."""
    try:
        await work
    except Exception as exc:
        if database_unavailable(exc):
            log.warning("%s pass skipped: database unavailable (%s)", what, type(exc).__name__)
        elif isinstance(exc, RPCError | OSError | RuntimeError):
            log.warning("%s pass skipped: %s", what, type(exc).__name__)
        else:
            log.exception("%s pass failed", what)
