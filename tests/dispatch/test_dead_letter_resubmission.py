"""Dead-letter resubmission as a library (dispatch/dead_letters.py), without the CLI: a stored body
judged with the current code, acted on once if valid now, a duplicate recognised, the rest refused with
why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

from config import Settings
from dispatch.dead_letters import letter_json, resubmit
from dispatch.dispatcher import Dispatcher
from store import dead_letters, inbox
from store.db import Store
from tests.support.settings import example_event, make_settings

PHONE = "+31612345678"


class RecordingDispatcher:
    """Stands in for dispatch.dispatcher.Dispatcher: notes what it was asked to act on."""

    def __init__(self) -> None:
        self.dispatched: list[int] = []

    async def dispatch(self, event_row_id: int) -> None:
        self.dispatched.append(event_row_id)


def _letter(store: Store, endpoint: str, body: bytes, errors: list[dict[str, str]]) -> int:
    return inbox.keep_dead_letter(store, endpoint, "application/cloudevents+json", body, 422, errors)


async def test_resubmit_acts_once_on_what_is_valid_now_and_says_why_not_for_the_rest(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings: Settings = make_settings(sqlite_url, tmp_path)
    store = Store(sqlite_url)
    valid_id = _letter(
        store, "/events", json.dumps(example_event()).encode(), [{"field": "data.cause", "reason": "old"}]
    )
    invalid = example_event()
    invalid["data"]["patient"]["email"] = "not-an-email"
    invalid_id = _letter(store, "/events", json.dumps(invalid).encode(), [{"field": "x", "reason": "y"}])
    sms_id = _letter(store, "/webhooks/twilio/sms", f"From={PHONE}&Body=1".encode(), [])
    dispatcher = RecordingDispatcher()

    results = await resubmit(
        settings,
        store,
        [valid_id, invalid_id, sms_id, 999999],
        "erin",
        dispatcher=cast(Dispatcher, dispatcher),
    )

    accepted, still_invalid, refused, missing = results
    assert (accepted.result, accepted.taken) == ("accepted", True)
    assert accepted.case_id and accepted.workflow_id and accepted.event_row_id
    assert dispatcher.dispatched == [accepted.event_row_id]  # acted on as if just received
    assert (still_invalid.result, still_invalid.taken) == ("invalid", False)
    assert any(reason.startswith("data.patient.email") for reason in still_invalid.reasons)
    assert refused.result == "refused" and "/webhooks/twilio/sms" in refused.reasons[0]
    assert missing.result == "not_found"
    letter = dead_letters.get(store, valid_id)
    assert letter is not None and (letter.resubmitted_by, letter.resubmitted_as) == (
        "erin",
        accepted.event_row_id,
    )
    left = dead_letters.get(store, invalid_id)
    assert left is not None and left.resubmitted_at is None

    # again: the same event, recognised as a duplicate; nothing is acted on twice
    [again] = await resubmit(settings, store, [valid_id], "erin", dispatcher=cast(Dispatcher, dispatcher))
    assert (again.result, again.event_row_id) == ("duplicate", accepted.event_row_id)
    assert dispatcher.dispatched == [accepted.event_row_id]


def test_a_letter_is_shown_masked(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    letter_id = _letter(
        store,
        "/events",
        json.dumps(example_event()).encode(),
        [{"field": "data.patient.phone", "reason": PHONE}],
    )
    letter = dead_letters.get(store, letter_id)
    assert letter is not None
    shown = letter_json(letter, whole_body=True)
    assert PHONE not in json.dumps(shown) and "+316****5678" in shown["body"]
    assert shown["reasons"] == ["data.patient.phone: +316****5678"]
    assert len(letter_json(letter, whole_body=False)["body"]) <= 120
