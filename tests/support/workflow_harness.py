"""Running a case end to end inside one test: store, worker and dispatcher on a Temporal test server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from config import Settings
from dispatch.dispatcher import Dispatcher
from domain import escalation as escalation_rules
from domain.base import Model
from domain.cases import CaseResult
from domain.escalation import EscalationState
from domain.events import BookingEvent
from runtime.worker import build_worker
from store import cases, inbox
from store.db import Store
from store.models import Case, EscalationRow, LocalDelivery, ReceivedEvent
from tests.support import waiting
from workflows.booking_conflict import BookingConflictRecovery

ResultT = TypeVar("ResultT")
RequestT = TypeVar("RequestT", bound=Model)
# the last event of a workflow that has ended
ENDED = {
    f"workflow_execution_{how}"
    for how in ("completed", "failed", "canceled", "terminated", "timed_out", "continued_as_new")
}


def as_web(settings: Settings, escalation_id: str, update: str, request: RequestT) -> RequestT:
    """`request` with its actor signed as the web tier signs it (web/escalation_actions.py)."""
    secret = settings.update_signing_secrets()[0]
    return escalation_rules.signed(request, secret, escalation_id, update, time.time())


@dataclass
class Harness:
    settings: Settings
    store: Store
    env: WorkflowEnvironment
    dispatcher: Dispatcher

    @property
    def client(self) -> Client:
        return self.env.client

    async def result(self, handle: WorkflowHandle[Any, ResultT]) -> ResultT:
        """Wait for a case to end, letting the time-skipping server jump over its timers meanwhile."""
        unlocked = getattr(self.env, "time_skipping_unlocked", None)
        if unlocked is None or type(handle).__name__ == "_TimeSkippingWorkflowHandle":
            return await handle.result()  # handles from start_workflow unlock time skipping themselves
        async with unlocked():
            return await handle.result()

    async def open_case(
        self, event: dict[str, Any]
    ) -> tuple[inbox.Accepted, WorkflowHandle[Any, CaseResult]]:
        raw = json.dumps(event).encode()
        accepted = await asyncio.to_thread(
            inbox.accept_booking_event,
            self.store,
            raw,
            BookingEvent.received(event),  # as at ingress
        )
        if not accepted.duplicate:
            await self.dispatcher.dispatch(accepted.event_row_id)
        assert accepted.workflow_id is not None
        handle = self.client.get_workflow_handle(accepted.workflow_id, result_type=CaseResult)
        return accepted, handle

    async def end(self, handle: WorkflowHandle[Any, Any]) -> None:
        """End a test's workflow now, if it still runs. Terminate needs no worker: a cancel would leave a
        workflow task that no worker takes once the test's worker stops, and the time-skipping server
        then stops skipping for every later test."""
        from temporalio.service import RPCError

        with self.store.session() as s:
            case_id = s.scalar(select(Case.case_id).where(Case.workflow_id == handle.id))
            children = list(
                s.scalars(select(EscalationRow.escalation_id).where(EscalationRow.case_id == case_id))
            )
        # the test server does not apply the parent-close policy: end the escalations too
        for workflow_id in [handle.id, *children]:
            try:
                await self.client.get_workflow_handle(workflow_id).terminate("test over")
            except RPCError:
                pass  # it had already ended

    async def until_idle(self, handle: WorkflowHandle[Any, Any], timeout: float = 20.0) -> None:
        """Until the workflow has nothing in flight: its last workflow task completed (or it is closed) and
        no activity it scheduled is still open. After this, "nothing was sent" is an answer, not a guess
        that the worker was quick enough (it also means whatever was due by now has been acted on)."""
        closing = (
            "activity_task_completed_event_attributes",
            "activity_task_failed_event_attributes",
            "activity_task_timed_out_event_attributes",
            "activity_task_canceled_event_attributes",
        )
        deadline = time.monotonic() + timeout
        while True:
            events = [event async for event in handle.fetch_history_events()]
            scheduled = {e.event_id for e in events if e.HasField("activity_task_scheduled_event_attributes")}
            for event in events:
                if (field := event.WhichOneof("attributes")) in closing:
                    scheduled.discard(getattr(event, field).scheduled_event_id)
            kinds = [event.WhichOneof("attributes") or "" for event in events]
            tasks = [kind for kind in kinds if kind.startswith("workflow_task_")]
            if kinds and kinds[-1].removesuffix("_event_attributes") in ENDED:
                return
            if tasks and tasks[-1] == "workflow_task_completed_event_attributes" and not scheduled:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{handle.id} still busy after {timeout}s")
            await asyncio.sleep(0.1)

    async def until_waiting(self, workflow_id: str) -> None:
        """Until the case waits for the patient. (The Java test server mishandles a signal that lands while
        a workflow task is in flight, sdk-java #1903; a real server does not care.)"""
        handle = self.client.get_workflow_handle(workflow_id)
        for _ in range(200):
            if await handle.query(BookingConflictRecovery.status) == "waiting_patient":
                await asyncio.sleep(0.2)
                return
            await asyncio.sleep(0.05)
        raise AssertionError("case never waited for the patient")

    async def sms_reply(self, from_number: str, text: str) -> str | None:
        """A patient's SMS as the Twilio webhook stores it (once the case waits), then relayed to the case."""
        with self.store.session() as s:
            workflow_id = s.scalar(
                select(Case.workflow_id)
                .where(Case.patient_phone == from_number, Case.status.in_(("open", "waiting_patient")))
                .order_by(Case.opened_at.desc())
            )
        if workflow_id:
            await self.until_waiting(workflow_id)
        row = await self.patient_sms(from_number, text)
        return row.case_id

    async def patient_sms(self, from_number: str, text: str) -> ReceivedEvent:
        """An SMS stored as the Twilio webhook stores it and relayed to whatever the inbox routed it to (a
        case, a check-in watch); the stored row."""
        row_id, _case_id, duplicate = await asyncio.to_thread(
            inbox.accept_patient_answer,
            self.store,
            "twilio_sms",
            "SM" + uuid.uuid4().hex,
            from_number,
            text,
            None,
            {"channel": "sms", "text": text},
        )
        assert not duplicate
        await self.dispatcher.dispatch(row_id)  # an unrouted row cannot be claimed: nothing happens
        with self.store.session() as s:
            row = s.get(ReceivedEvent, row_id)
            assert row is not None
            return row

    async def escalation(self, case_id: str, status: str = "open", timeout: float = 20.0) -> str:
        """The id of the case's escalation once it waits in `status` (and its workflow is idle: the Java
        test server mishandles an Update that lands while a workflow task is in flight)."""

        def find() -> str | None:
            with self.store.session() as s:
                return s.scalar(
                    select(EscalationRow.escalation_id).where(
                        EscalationRow.case_id == case_id, EscalationRow.status == status
                    )
                )

        escalation_id: str = await self.wait_for(find, timeout)
        await asyncio.sleep(0.3)
        return escalation_id

    async def act(self, escalation_id: str, update: str, request: Any) -> EscalationState:
        """The Update as the web tier sends it: its actor signed (runtime/signed_actors.py)."""
        request = as_web(self.settings, escalation_id, update, request)
        handle = self.client.get_workflow_handle(escalation_id)
        state: EscalationState = await handle.execute_update(update, request, result_type=EscalationState)
        await asyncio.sleep(0.2)  # let the workflow settle before the next Update
        return state

    def deliveries(self, channel: str | None = None, to: str | None = None) -> list[LocalDelivery]:
        with self.store.session() as s:
            query = select(LocalDelivery).order_by(LocalDelivery.id)
            if channel:
                query = query.where(LocalDelivery.channel == channel)
            if to:
                query = query.where(LocalDelivery.to_address == to)
            return list(s.scalars(query))

    def event_status(self, row_id: int) -> str:
        with self.store.session() as s:
            row = s.get(ReceivedEvent, row_id)
            assert row is not None
            return row.status

    def count(self, model: Any, *where: Any) -> int:
        with self.store.session() as s:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    async def wait_for(self, check: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Poll (in real time, in a thread: the worker keeps running) until `check()` is truthy. The
        thread is one of the pollers' own: in the event loop's default pool, ten waits at once took
        every thread (six on two cores) from the activities whose work they waited for."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_POLLERS, functools.partial(waiting.wait_for, check, timeout))


# the threads test waits poll in, apart from the event loop's default pool that activities run in
_POLLERS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="test-wait")


@contextlib.asynccontextmanager
async def running(settings: Settings, env: WorkflowEnvironment, **providers: Any) -> AsyncIterator[Harness]:
    store = Store(settings.database_url)
    worker = build_worker(env.client, settings, store, **providers)
    async with worker:
        yield Harness(settings, store, env, Dispatcher(settings, store, env.client))


async def fail_case(h: Harness, workflow_id: str, kind: str = "workflow_failed") -> str:
    """The case's workflow ended badly: the case is marked failed, as the reconciler marks it."""
    described = await h.client.get_workflow_handle(workflow_id).describe()
    case_id = await asyncio.to_thread(
        cases.mark_failed,
        h.store,
        workflow_id,
        described.run_id,
        kind,
        "an activity failed",
        datetime.now(UTC),
    )
    assert case_id is not None
    return case_id


async def rerun_result(h: Harness, workflow_id: str) -> CaseResult:
    handle = h.client.get_workflow_handle(workflow_id, result_type=CaseResult)
    return await asyncio.wait_for(handle.result(), 60)
