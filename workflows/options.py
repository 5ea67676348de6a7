"""Timeouts and retry policies for each kind of activity call."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from domain.base import PROVIDER_REJECTED

# A store activity is a few queries (milliseconds). A worker that dies mid-way is noticed by its missing
# heartbeats (worker.Heartbeating beats for it) within 5 s, and an attempt that hangs (a lock, a database
# that does not answer) is cut after 10 s; the retry, on any worker, is safe because every store activity
# is idempotent. (A start-to-close of 5 s alone would also cut attempts that are merely slow on a loaded
# machine, and the retries would pile more load on it.)
with_store: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "heartbeat_timeout": timedelta(seconds=5),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=500),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
    ),
}

# The same store steps run as local activities (patch `store-steps-local`): in the worker that runs the
# workflow task, no round trip through the Temporal server (a marker in history records the result), so
# a case's short reads and writes cost milliseconds instead of a server dispatch each. A worker that dies
# mid-step fails its workflow task, which another worker takes after the task's own timeout (10 s) and
# runs the step again (idempotent). Retries wait in the worker up to 5 s apart, longer ones (a database
# away) on a server timer, so a long outage does not hold a workflow task open.
with_store_local: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "local_retry_threshold": timedelta(seconds=5),
    "retry_policy": with_store["retry_policy"],
}


# Provider 4xx come back as results (the workflow picks another channel); 5xx, 429 and lost connections
# raise and are retried with backoff for up to an hour, send-once making each retry safe.
# One attempt may legitimately take two HTTP calls of up to 15 s each (the SDK clients' timeouts in
# activities/: asking whether an earlier attempt got through, then sending), so it gets 40 s; a worker
# that dies mid-call is noticed sooner, by its missing heartbeats (worker.Heartbeating beats for it).
PROVIDER_HTTP_TIMEOUT = timedelta(seconds=15)
with_provider: dict[str, Any] = {
    "start_to_close_timeout": 2 * PROVIDER_HTTP_TIMEOUT + timedelta(seconds=10),
    "heartbeat_timeout": timedelta(seconds=5),
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=2),
        non_retryable_error_types=[PROVIDER_REJECTED, "ValidationError"],
    ),
}

# "Call patient" answers the rep within seconds: a few quick attempts, then the rep is told it failed
with_call: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(seconds=20),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_attempts=3,
        non_retryable_error_types=[PROVIDER_REJECTED, "ValidationError"],
    ),
}

# The external tracker (Jira, GitHub) hears of a problem on its own time: a tracker down for a day still
# gets every occurrence, tried again every few minutes, without holding any case open.
with_tracker: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=90),
    "schedule_to_close_timeout": timedelta(days=7),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=15),
        non_retryable_error_types=[PROVIDER_REJECTED],
    ),
}
