"""Access to Temporal is not enough to act in an escalation (issue 18, point 3): the worker believes an
Update's actor only when the web tier signed it (runtime/signed_actors.py), and refuses a payload that is
not encrypted with CODEC_KEYS (encryption.codec). Either refusal rejects the Update: the escalation is
unchanged, nothing reaches history, the workflow task does not fail, and a signed Update works after."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain import escalation as rules
from domain.escalation import Actor, ByActor, EscalationState, EscalationStatus, Refusal, ResolveRequest
from encryption import EncryptionCodec, PlainPayloadRefused, parse_keys
from runtime.worker import WORKFLOWS
from store.models import TimelineItem
from tests.support.escalations import ANN, row, start
from tests.support.settings import TEST_CODEC_KEYS, TEST_CONVERTER, make_settings
from tests.support.workflow_harness import Harness, as_web, running
from workflows.escalation import Escalation

MALLORY = Actor(user="mallory", role="supervisor")


def test_every_update_has_a_validator_so_the_actor_is_always_checked() -> None:
    """The SDK calls the validator chain (and so the signature check) only for an Update that has one."""
    for cls in WORKFLOWS:
        defn = workflow._Definition.from_class(cls)
        assert defn is not None
        for name, update in defn.updates.items():
            assert update.validator is not None, f"{cls.__name__}.{name} has no validator"


async def history_of(handle: WorkflowHandle[Any, Any]) -> list[int]:
    return [e.event_type for e in (await handle.fetch_history()).events]


async def refused(call: Any) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await call
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause


async def unchanged(h: Harness, escalation_id: str, handle: WorkflowHandle[Any, Any]) -> None:
    state = await handle.query(Escalation.current)
    assert (state.status, state.claimed_by) == (EscalationStatus.OPEN, None)
    assert row(h, escalation_id).claimed_by is None
    events = await history_of(handle)
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED not in events
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events
    assert h.count(TimelineItem, TimelineItem.what == "escalation_claimed") == 0


async def test_a_forged_actor_sent_straight_to_temporal_is_refused(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        escalation_id, handle = await start(h)
        now = time.time()

        def claim(request: ByActor) -> Any:
            return handle.execute_update("claim", request, result_type=EscalationState)

        # what `temporal workflow update execute --name claim` did: no signature at all
        cause = await refused(claim(ByActor(actor=MALLORY)))
        assert cause.type == Refusal.NOT_ALLOWED and "not signed" in cause.message
        forged = [
            # signed with a secret of the attacker's own
            rules.signed(ByActor(actor=MALLORY), "guessed", escalation_id, "claim", now),
            # a real signature for a rep, with the role changed
            as_web(settings, escalation_id, "claim", ByActor(actor=ANN)).model_copy(
                update={"actor": Actor(user="ann", role="supervisor")}
            ),
            # a real signature for another Update, another escalation, or from too long ago
            as_web(settings, escalation_id, "release", ByActor(actor=MALLORY)),
            as_web(settings, "esc-case-other-1", "claim", ByActor(actor=MALLORY)),
            rules.signed(
                ByActor(actor=MALLORY),
                settings.update_signing_secrets()[0],
                escalation_id,
                "claim",
                now - rules.PROOF_VALID_SECONDS - 5,
            ),
        ]
        for request in forged:
            cause = await refused(claim(request))
            assert cause.type == Refusal.NOT_ALLOWED, cause.message
        await unchanged(h, escalation_id, handle)

        # the web tier's signed Updates still work, and the workflow carries on
        claimed = await h.act(escalation_id, "claim", ByActor(actor=ANN))
        assert claimed.claimed_by == "ann"
        await h.act(escalation_id, "resolve", ResolveRequest(actor=ANN, notes="Called back."))
        assert (await h.result(handle)).status is EscalationStatus.RESOLVED


class WritesPlain(EncryptionCodec):
    """A client that writes plain JSON (as the `temporal` CLI without the codec does) but reads what the
    worker answers (its failures are encrypted)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


async def test_a_plain_update_payload_is_refused_by_the_worker(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """Even with a valid signature: the worker does not read a payload that is not encrypted, and the
    refusal rejects the Update (the workflow task does not fail, the escalation carries on)."""
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        escalation_id, handle = await start(h)
        env_client = time_skipping_env.client
        converter = dataclasses.replace(
            TEST_CONVERTER, payload_codec=WritesPlain(parse_keys(TEST_CODEC_KEYS), refuse_plain=False)
        )
        plain_client = Client(
            env_client.service_client, namespace=env_client.namespace, data_converter=converter
        )
        signed = as_web(settings, escalation_id, "claim", ByActor(actor=ANN))
        cause = await refused(plain_client.get_workflow_handle(escalation_id).execute_update("claim", signed))
        assert cause.type == PlainPayloadRefused.TYPE and "json/plain" in cause.message
        await unchanged(h, escalation_id, handle)

        # the same request, encrypted
        claimed = await h.act(escalation_id, "claim", ByActor(actor=ANN))
        assert claimed.claimed_by == "ann"
        await h.act(escalation_id, "resolve", ResolveRequest(actor=ANN, notes="Called back."))
        assert (await h.result(handle)).status is EscalationStatus.RESOLVED
