"""The Temporal worker: every workflow and activity, bound to the providers the config chooses
(runtime/providers.py), and one rate-limited worker per provider. `python worker.py` runs it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.case_store import CaseStoreActivities
from activities.checkin import CheckInActivities
from activities.gift_cards import GiftCardActivities
from activities.routing import RoutingActivities
from activities.scheduling import SchedulingActivities
from activities.sendgrid_email import SendGridActivities
from activities.tickets import TicketActivities
from activities.twilio_phone import TwilioActivities
from config import Settings, logs, tracing
from dispatch.connection import connect_waiting, worker_metrics_address, worker_runtime
from providers.calendar.local import LocalCalendar
from providers.gift_cards import GiftCardProvider
from providers.mail import MailGateway
from providers.phone import PhoneGateway
from providers.trackers import ExternalTracker
from runtime.providers import gift_card_provider, mail_gateway, phone_gateway, problem_tracker
from runtime.signed_actors import SignedActors
from store.db import POOL_OVERFLOW, POOL_SIZE, Store
from workflows.booking_conflict import BookingConflictRecovery
from workflows.checkin import CheckInWatch
from workflows.checkin_trouble import CheckInTroubleRecovery
from workflows.escalation import Escalation
from workflows.feedback import FeedbackRequest
from workflows.inquiry import Inquiry
from workflows.rep_router import RepRouter
from workflows.routing import PROVIDER_OF_ACTIVITY, PROVIDERS, ProviderQueues, provider_queue
from workflows.ticket_sync import TicketSync

log = logging.getLogger("makeright.worker")

# the SDK's default is 10 s: each case of a dead worker would wait that long before another worker took it
STICKY_TIMEOUT = timedelta(seconds=3)

WORKFLOWS: Sequence[type] = (
    BookingConflictRecovery,
    CheckInWatch,
    CheckInTroubleRecovery,
    Inquiry,
    Escalation,
    TicketSync,
    FeedbackRequest,
    RepRouter,
)


def workflow_runner(sandbox: bool = True) -> WorkflowRunner:
    """The sandbox, with the project's own workflow modules passed through: imported once per process
    instead of executed again for every case the worker starts or replays (about a third of the worker's
    CPU per case went there). They keep no state between runs (a case's state lives on its workflow
    object), and the sandbox's checks on what workflow code calls (no clock, no I/O) still apply.
    `sandbox=False` (WORKER__SANDBOX): no sandbox at all, the workflows as plain Python (config/settings.py
    says what that saves and what checks are then the suite's)."""
    if not sandbox:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows")
    )


def workflow_interceptors() -> list[Interceptor]:
    """What the workflow worker runs its workflows with, and so what a replay must run them with too."""
    return [ProviderQueues()]


class _BeatWhileRunning(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        timeout = activity.info().heartbeat_timeout
        if not timeout:
            return await super().execute_activity(input)

        async def beat() -> None:
            while True:  # most activities are done before the first beat: no heartbeat traffic for them
                await asyncio.sleep(max(timeout.total_seconds() / 4, 0.2))
                activity.heartbeat()

        beating = asyncio.create_task(beat())
        try:
            return await super().execute_activity(input)
        finally:
            beating.cancel()


class Heartbeating(Interceptor):
    """Every activity scheduled with a `heartbeat_timeout` heartbeats while it runs (the event loop stays
    free while its blocking calls run in threads): a worker that dies mid-call stops beating and the
    attempt is retried elsewhere within that timeout, however long the call itself may take."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BeatWhileRunning(next)


def replayer(converter: DataConverter) -> Replayer:
    """Replays histories exactly as the workflow worker would run them (with the client's converter,
    codec included)."""
    return Replayer(
        workflows=list(WORKFLOWS),
        data_converter=converter,
        interceptors=workflow_interceptors(),
        workflow_runner=workflow_runner(),
    )


def build_activities(
    settings: Settings,
    store: Store,
    phone: PhoneGateway | None = None,
    mail: MailGateway | None = None,
    gift_cards: GiftCardProvider | None = None,
    tracker: ExternalTracker | None = None,
    overrides: Mapping[str, Callable[..., Any]] | None = None,
) -> list[Callable[..., Any]]:
    """Every activity, bound to the providers the config chooses (tests may hand in their own, and may
    replace single activities by name in `overrides`, e.g. one that fails)."""
    phones = phone or phone_gateway(settings, store)
    twilio = TwilioActivities(store, phones)
    floor = RoutingActivities(store, phones)
    sendgrid = SendGridActivities(
        store, mail or mail_gateway(settings, store), settings.inbound_email_address
    )
    cards = GiftCardActivities(store, gift_cards or gift_card_provider(settings, store))
    scheduling = SchedulingActivities(store, LocalCalendar(store, settings.calendar))
    tickets = TicketActivities(store, tracker or problem_tracker(settings), settings.root_causes)
    case_store = CaseStoreActivities(store)
    checkin = CheckInActivities(store)
    activities: list[Callable[..., Any]] = [
        twilio.send_sms,
        twilio.place_call,
        twilio.bridge_call,
        sendgrid.send_email,
        cards.issue_gift_card,
        cards.record_pending_approval,
        cards.reserve_compensation,
        cards.release_reservation,
        cards.record_denial,
        scheduling.note_conflict,
        scheduling.find_alternatives,
        scheduling.book_slot,
        tickets.link_root_cause,
        tickets.sync_external_ticket,
        case_store.update_case,
        case_store.add_timeline,
        case_store.record_escalation,
        case_store.contact_history,
        case_store.feedback_outlook,
        case_store.feedback_asked,
        case_store.feedback_answered,
        case_store.feedback_closed,
        case_store.earlier_offer_open,
        checkin.record_watch,
        checkin.open_trouble_case,
        floor.ring_rep,
        floor.stop_ringing,
        floor.save_floor,
        floor.submit_work,
        floor.withdraw_work,
    ]
    replace = overrides or {}
    return [replace.get(fn.__name__, fn) for fn in activities]


class Workers:
    """The workflow worker (with the store's activities) and one rate-limited worker per provider, started
    and stopped together."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Workers:
        for worker in self.workers:
            await self._stack.enter_async_context(worker)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def run(self) -> None:
        await asyncio.gather(*(worker.run() for worker in self.workers))

    async def shutdown(self) -> None:
        await asyncio.gather(*(worker.shutdown() for worker in self.workers))


def build_worker(client: Client, settings: Settings, store: Store, **providers: Any) -> Workers:
    limits = settings.worker
    activities = build_activities(settings, store, **providers)
    by_provider: dict[str, list[Callable[..., Any]]] = {name: [] for name in PROVIDERS}
    own: list[Callable[..., Any]] = []
    for fn in activities:
        provider = PROVIDER_OF_ACTIVITY.get(fn.__name__)
        (by_provider[provider] if provider else own).append(fn)
    workers = [
        Worker(
            client,
            task_queue=settings.task_queue,
            workflows=list(WORKFLOWS),
            activities=own,
            # an Update's actor counts only when the web tier signed it (runtime/signed_actors.py)
            interceptors=[
                *workflow_interceptors(),
                SignedActors(settings.update_signing_secrets()),
                Heartbeating(),
            ],
            workflow_runner=workflow_runner(limits.sandbox),
            # a case's next workflow task waits this long for this worker (which has its history cached)
            # before any worker takes it: short, so a worker that died costs the case seconds
            sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
            max_cached_workflows=limits.max_cached_workflows,
            max_concurrent_workflow_tasks=limits.max_concurrent_workflow_tasks,
            max_concurrent_activities=limits.max_concurrent_activities,
            max_concurrent_local_activities=limits.max_concurrent_local_activities,
        )
    ]
    for provider, provider_activities in by_provider.items():
        workers.append(
            Worker(
                client,
                task_queue=provider_queue(settings.task_queue, provider),
                activities=provider_activities,
                # the provider's own limit, across every worker polling this queue
                max_task_queue_activities_per_second=getattr(settings.rate_limits, provider),
                max_concurrent_activities=limits.max_concurrent_activities,
                interceptors=[Heartbeating()],
            )
        )
    return Workers(workers)


# store and provider activities run their blocking calls in the event loop's default thread pool; Python
# sizes it cores + 4 (6 here), fewer than the store's pooled connections, so a burst's store steps
# queued for a thread while their timeouts ran. One thread per connection the store can hand out.
ACTIVITY_THREADS = POOL_SIZE + POOL_OVERFLOW


async def run(settings: Settings) -> None:
    tracing.configure(settings.otel_exporter_otlp_endpoint, "makeright-worker")
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=ACTIVITY_THREADS, thread_name_prefix="activity")
    )
    client = await connect_waiting(settings, worker_runtime(settings), log=log)
    store = Store(settings.database_url)
    worker = build_worker(client, settings, store)
    if settings.worker_metrics_port:
        address = worker_metrics_address(settings)
        print(f"worker: Temporal SDK metrics on http://{address}/metrics", flush=True)
    limits = settings.rate_limits
    print(
        f"worker: rate limits per second: twilio {limits.twilio}, sendgrid {limits.sendgrid}, "
        f"gift cards {limits.gift_cards} ({settings.gift_card_mode})",
        flush=True,
    )
    print(f"worker: polling task queue {settings.task_queue!r} on {settings.temporal_target}", flush=True)
    await worker.run()


def serve(settings: Settings) -> int:
    """`python worker.py`, `makeright worker`: the workers until Ctrl-C, logging in LOG_FORMAT."""
    # text or JSON lines, phone numbers and emails masked in every line (the Twilio SDK's request logs
    # at INFO, with numbers and message text, are turned down too)
    logs.configure(settings.log_format, logging.INFO)
    try:
        asyncio.run(run(settings))
    except KeyboardInterrupt:
        pass
    return 0
