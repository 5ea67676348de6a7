"""Temporal test servers' housekeeping."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment


async def end_open_workflows(env: WorkflowEnvironment) -> list[str]:
    """Terminate every workflow still running on `env` (terminate needs no worker); their ids."""
    from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest
    from temporalio.service import RPCError

    client = env.client
    ended: list[str] = []
    page = b""
    while True:
        response = await client.workflow_service.list_open_workflow_executions(
            ListOpenWorkflowExecutionsRequest(
                namespace=client.namespace, maximum_page_size=1000, next_page_token=page
            )
        )
        for execution in response.executions:
            workflow_id = execution.execution.workflow_id
            try:
                await client.get_workflow_handle(workflow_id, run_id=execution.execution.run_id).terminate(
                    "the test that started it is over"
                )
                ended.append(workflow_id)
            except RPCError:
                pass  # it ended meanwhile
        page = response.next_page_token
        if not page:
            return ended
