"""Shared test helpers."""

from __future__ import annotations

# what the SDK writes in plain into a local activity's marker (sdk-core's LocalActivityMarkerData)
LOCAL_ACTIVITY_MARKER = {
    "seq", "attempt", "activity_id", "activity_type", "complete_time", "backoff", "original_schedule_time",
    "activation_index",
}  # fmt: skip
