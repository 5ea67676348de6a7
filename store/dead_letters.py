"""Dead letters as engineers read them, and the mark a resubmitted one gets."""

from __future__ import annotations

from sqlalchemy import select

from store.db import Store
from store.models import DeadLetter, utcnow


def recent(store: Store, limit: int) -> list[DeadLetter]:
    with store.session() as s:
        return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)))


def get(store: Store, letter_id: int) -> DeadLetter | None:
    with store.session() as s:
        return s.get(DeadLetter, letter_id)


def mark_resubmitted(store: Store, letter_id: int, event_row_id: int, by: str) -> None:
    """The letter was valid when resubmitted and became (or matched) inbox row `event_row_id`."""
    with store.session() as s:
        letter = s.get(DeadLetter, letter_id, with_for_update=True)
        if letter is None:
            raise LookupError(f"no dead letter {letter_id}")
        letter.resubmitted_at = utcnow()
        letter.resubmitted_by = by[:100]
        letter.resubmitted_as = event_row_id
