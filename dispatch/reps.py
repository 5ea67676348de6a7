"""Reps on duty, through the router workflow: a rep's presence is an Update on it, sent with start so the
router starts on first use. By name, like every start here (dispatch/dispatcher.py): the type "RepRouter",
its id (`router_workflow_id`: one router per task queue) and the Update "set_presence" are the ones
workflows/rep_router.py and activities/routing.py use; this module never imports them."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from config import Settings
from domain.routing import PresenceChange, RepView, RouterInput, router_workflow_id

ROUTER_WORKFLOW = "RepRouter"  # workflows/rep_router.py
SET_PRESENCE_UPDATE = "set_presence"
# the router answers within this, or the caller is told it is unavailable (503)
UPDATE_DEADLINE_SECONDS = 15


class PresenceRefused(Exception):
    """The router refused the change. `kind` is the refusal's type as the router raised it: the name of
    the field at fault (`phone`, `languages`: a 422 naming it), or something else (409: not now)."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class RouterUnavailable(Exception):
    """Temporal (or the router's worker) did not answer: nothing was changed that we know of (503)."""


def router_input(settings: Settings) -> RouterInput:
    return RouterInput(policy=settings.routing, public_base_url=settings.public_base_url)


async def set_presence(client: Client, settings: Settings, change: PresenceChange) -> RepView:
    """Tell the router a rep's presence; the rep as the router now has them. Starts the router when none
    runs (Update-with-start; a running one is used). Raises PresenceRefused or RouterUnavailable."""
    start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        ROUTER_WORKFLOW,
        router_input(settings),
        id=router_workflow_id(settings.task_queue),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=settings.task_queue,
    )
    try:
        async with asyncio.timeout(UPDATE_DEADLINE_SECONDS):
            view: RepView = await client.execute_update_with_start_workflow(
                SET_PRESENCE_UPDATE, change, start_workflow_operation=start, result_type=RepView
            )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # (the SDK turns the cancel of a timeout into its own error: either way, no answer in time)
        raise RouterUnavailable(f"no answer from the router within {UPDATE_DEADLINE_SECONDS} s") from None
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            raise PresenceRefused(cause.message, cause.type) from None
        raise PresenceRefused("the router refused the change") from None
    except RPCError as exc:
        raise RouterUnavailable(f"the workflow service did not take the change ({exc.status.name})") from None
    return view
