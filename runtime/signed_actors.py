"""The worker believes the actor of an Update only when the web tier signed it (UPDATE_SIGNING_SECRET).

Whoever can reach Temporal could otherwise send `claim` as `{"user": "mallory", "role": "supervisor"}`:
the workflows' validators decide by the actor's role. This interceptor checks the actor's proof
(domain.escalation.check_proof: the escalation, the Update's name, the user, the role, issued within five
minutes) before the workflow's own validator, and a refusal rejects the Update: nothing reaches history.

It runs where validators run: when an Update is first delivered, never on replay (the SDK does not run
validators then), so an expired proof does not matter to a replay and the secret never enters a
workflow's input or history. The SDK calls the validator chain only for an Update that has a validator:
every Update has one (tests/workflows/test_signed_actors.py checks it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from domain.escalation import Refusal, check_proof

# the workflows whose Updates act as a person with a role (the escalation's claim, approve, resolve...).
# The router's (presence, a rep's key on an offer call) name the rep they are about and carry no role.
SIGNED_WORKFLOWS = frozenset({"Escalation"})


class SignedActors(Interceptor):
    def __init__(self, secrets: Sequence[str], clock: Callable[[], float] = time.time) -> None:
        if not secrets:
            raise ValueError("no UPDATE_SIGNING_SECRET to check actors with")
        self.secrets = tuple(secrets)
        self.clock = clock

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        secrets, clock = self.secrets, self.clock

        class _SignedActorInbound(WorkflowInboundInterceptor):
            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                if workflow.info().workflow_type not in SIGNED_WORKFLOWS:
                    super().handle_update_validator(input)
                    return
                request = input.args[0] if input.args else None
                try:
                    # the wall clock, not workflow.now(): this never runs on replay, and the proof was
                    # issued by the wall clock (a time-skipping test server's workflow time runs ahead)
                    check_proof(secrets, workflow.info().workflow_id, input.update, request, clock())
                except Refusal as refusal:
                    raise ApplicationError(refusal.message, type=refusal.kind, non_retryable=True) from None
                super().handle_update_validator(input)

        return _SignedActorInbound
