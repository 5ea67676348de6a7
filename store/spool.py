"""A local spool for what a provider sends once and never again: kept on this machine while the database is
away, and taken into the inbox when it is back.

Twilio does not retry an inbound-message webhook (nor a status callback): a patient's SMS reply that
arrives during a database outage would be lost if the answer were a 503. The webhook (its signature already
checked) writes it here instead, in a small SQLite file in VAR_DIR (committed with fsync before Twilio
gets its 200), and the relay loop (`Starter.drain_spool`) takes it into the inbox exactly as the webhook
would have, de-duplicated by the provider's id (MessageSid, CallSid, …): an entry taken twice (a crash
between taking and forgetting it, or the same webhook spooled twice) is stored once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.private import private_sqlite
from domain.replies import consent_change
from store import callbacks, consent, inbox
from store.db import Store

FILE_NAME = "webhook-spool.sqlite3"

ANSWER = "answer"  # a patient's SMS or keypad answer (inbox.accept_patient_answer)
REPORT = "report"  # a delivery report (callbacks.accept)


@dataclass(frozen=True)
class Answer:
    """A patient's answer as a Twilio webhook received it."""

    source: str  # twilio_sms | twilio_voice
    provider_id: str  # MessageSid, or CallSid:round
    from_address: str
    body: str
    case_id: str | None
    parsed: dict[str, Any]


@dataclass(frozen=True)
class Entry:
    id: int
    kind: str
    payload: dict[str, Any]
    received_at: datetime


def take_answer(store: Store, answer: Answer, received_at: datetime | None = None) -> int | None:
    """What the webhook does with an answer: STOP / START bind first, then the inbox stores and routes it.
    Returns the inbox row to act on now, or None (a duplicate: already stored)."""
    change = consent_change(answer.body) if answer.source == "twilio_sms" else None
    if change is not None:
        for channel in change.channels:
            consent.record(store, channel, answer.from_address, change.opted_out, source="twilio_sms")
    row_id, _case_id, duplicate = inbox.accept_patient_answer(
        store,
        answer.source,
        answer.provider_id,
        answer.from_address,
        answer.body,
        answer.case_id,
        answer.parsed,
        received_at=received_at,
    )
    return None if duplicate else row_id


def take_report(store: Store, report: callbacks.Report, extra: dict[str, Any]) -> int | None:
    """What the webhook does with a delivery report; the inbox row to act on now, or None."""
    stored = callbacks.accept(store, report, extra)
    return stored.row_id if stored.act and not stored.duplicate else None


class Spool:
    """The spool file: one row per webhook, unique per (kind, provider id)."""

    def __init__(self, var_dir: Path) -> None:
        self.path = var_dir / FILE_NAME
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        # patients' numbers and words: readable by this user only (SQLite gives its -wal file the same mode)
        private_sqlite(self.path)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        # WAL with synchronous=FULL: each commit is fsynced before it returns (a power cut keeps it)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spooled ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, key TEXT NOT NULL,"
            " payload TEXT NOT NULL, received_at TEXT NOT NULL, UNIQUE (kind, key))"
        )
        return conn

    def put_answer(self, answer: Answer) -> bool:
        return self._put(ANSWER, f"{answer.source}:{answer.provider_id}", asdict(answer))

    def put_report(self, report: callbacks.Report, extra: dict[str, Any]) -> bool:
        payload = {"report": asdict(report), "extra": extra}
        return self._put(REPORT, f"{report.source}:{report.external_id}", payload)

    def _put(self, kind: str, key: str, payload: dict[str, Any]) -> bool:
        """Keep it (durably, before returning); False when the same webhook is spooled already."""
        now = datetime.now(UTC).isoformat()
        with self._lock:
            conn = self._connect()
            try:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO spooled (kind, key, payload, received_at) VALUES (?, ?, ?, ?)",
                    (kind, key, json.dumps(payload), now),
                )
                return cursor.rowcount == 1
            finally:
                conn.close()

    def pending(self, limit: int = 100) -> list[Entry]:
        """The oldest entries still to take into the inbox (none, without touching the disk, when this
        machine never spooled anything)."""
        if not self.path.exists():
            return []
        with self._lock:
            conn = self._connect()
            try:
                rows = conn.execute(
                    "SELECT id, kind, payload, received_at FROM spooled ORDER BY id LIMIT ?", (limit,)
                ).fetchall()
            finally:
                conn.close()
        return [Entry(row[0], row[1], json.loads(row[2]), datetime.fromisoformat(row[3])) for row in rows]

    def forget(self, entry_id: int) -> None:
        """The entry is in the inbox now."""
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("DELETE FROM spooled WHERE id = ?", (entry_id,))
            finally:
                conn.close()


def take(store: Store, entry: Entry) -> int | None:
    """Take one spooled webhook into the inbox, as it would have been when it arrived; the inbox row to act
    on now, or None (nothing to act on, or stored before: a duplicate)."""
    if entry.kind == ANSWER:
        return take_answer(store, Answer(**entry.payload), entry.received_at)
    report = callbacks.Report(**entry.payload["report"])
    return take_report(store, report, entry.payload["extra"])
