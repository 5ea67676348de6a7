"""Each external system's activities run on that system's own task queue, whose worker is rate-limited
to what the provider allows (`max_task_queue_activities_per_second`): a burst of cases queues its calls
and messages instead of failing them.

The routing lives in one workflow interceptor rather than at every call site, so no workflow can reach a
provider around its limit. It is deterministic: a fixed mapping from activity name to queue, relative to
the workflow's own task queue.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

PROVIDER_OF_ACTIVITY = {
    "send_sms": "twilio",
    "place_call": "twilio",
    "bridge_call": "twilio",
    "ring_rep": "twilio",
    "stop_ringing": "twilio",
    "send_email": "sendgrid",
    "issue_gift_card": "gift_cards",
}
PROVIDERS = ("twilio", "sendgrid", "gift_cards")


def provider_queue(base: str, provider: str) -> str:
    return f"{base}-{provider}"


class _RouteOutbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle:
        provider = PROVIDER_OF_ACTIVITY.get(input.activity)
        if provider is not None and input.task_queue is None:
            input.task_queue = provider_queue(workflow.info().task_queue, provider)
        return super().start_activity(input)


class _RouteInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_RouteOutbound(outbound))


class ProviderQueues(Interceptor):
    """Give this to the Worker (and to the Replayer) that runs the workflows."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _RouteInbound
