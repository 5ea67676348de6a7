"""Refused input kept as dead letters: how they are shown (contact details masked) and resubmitted
(`cli.py dead-letters resubmit`): the stored body judged with the current code (domain.intake, as
`POST /events` judges it) and, if valid now, acted on as if just received, duplicates recognised as
usual."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from config import Settings
from dispatch.dispatcher import DISPATCH_WAIT_SECONDS, Dispatcher
from domain.intake import parse_booking_event
from domain.masking import mask_text
from store import dead_letters, inbox
from store.db import Store
from store.models import DeadLetter


def reasons(errors: Iterable[dict[str, Any]]) -> list[str]:
    """Why a body was refused, one masked line per bad field."""
    return [mask_text(f"{e.get('field')}: {e.get('reason')}") for e in errors]


def letter_json(letter: DeadLetter, whole_body: bool) -> dict[str, Any]:
    """A dead letter as `--json` shows it; the body masked, and cut to 120 characters unless
    `whole_body`."""
    body = letter.raw.decode("utf-8", "replace")
    return {
        "id": letter.id,
        "received_at": letter.received_at.isoformat(),
        "endpoint": letter.endpoint,
        "content_type": letter.content_type,
        "status_code": letter.status_code,
        "reasons": reasons(letter.errors),
        "body": mask_text(body if whole_body else body[:120]),
        "resubmitted_at": letter.resubmitted_at.isoformat() if letter.resubmitted_at else None,
        "resubmitted_by": letter.resubmitted_by,
        "resubmitted_as": letter.resubmitted_as,
    }


@dataclass
class Resubmitted:
    id: int
    result: str  # accepted | duplicate | invalid | refused | not_found
    case_id: str | None = None
    workflow_id: str | None = None
    event_row_id: int | None = None
    dispatched: str | None = None  # the inbox row's status afterwards (dispatched, pending, …)
    reasons: list[str] = field(default_factory=list)

    @property
    def taken(self) -> bool:
        """In the inbox now (new, or recognised as a duplicate)."""
        return self.result in ("accepted", "duplicate")


async def resubmit(
    settings: Settings, store: Store, ids: list[int], by: str, dispatcher: Dispatcher | None = None
) -> list[Resubmitted]:
    """Judge each dead letter's body with the current code; one valid now is stored and dispatched exactly
    as `POST /events` would (committed, then acted on; if Temporal is away a relay does it later) and the
    letter is marked resubmitted by `by`. One result per id, in order."""
    dispatcher = dispatcher or Dispatcher(settings, store)
    results = []
    for letter_id in ids:
        letter = await asyncio.to_thread(dead_letters.get, store, letter_id)
        if letter is None:
            results.append(Resubmitted(letter_id, "not_found", reasons=["no such dead letter"]))
            continue
        if letter.endpoint != "/events":
            why = f"it came to {letter.endpoint}: only booking events (/events) can be resubmitted"
            results.append(Resubmitted(letter_id, "refused", reasons=[why]))
            continue
        event, errors = parse_booking_event(letter.raw)
        if event is None:
            results.append(Resubmitted(letter_id, "invalid", reasons=reasons(errors)))
            continue
        accepted = await asyncio.to_thread(inbox.accept_booking_event, store, letter.raw, event)
        if not accepted.duplicate:
            try:
                await asyncio.wait_for(dispatcher.dispatch(accepted.event_row_id), DISPATCH_WAIT_SECONDS)
            except TimeoutError:
                pass
        await asyncio.to_thread(dead_letters.mark_resubmitted, store, letter_id, accepted.event_row_id, by)
        results.append(
            Resubmitted(
                letter_id,
                "duplicate" if accepted.duplicate else "accepted",
                case_id=accepted.case_id,
                workflow_id=accepted.workflow_id,
                event_row_id=accepted.event_row_id,
                dispatched=await asyncio.to_thread(inbox.event_status, store, accepted.event_row_id),
            )
        )
    return results
