"""Reading and writing cases and their timelines."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, literal, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.base import CaseKind
from domain.cases import CaseUpdate, TimelineEntry
from domain.events import BookingEventData
from domain.inbound_email import new_token
from store.db import Store, insert_once
from store.models import Case, ReceivedEvent, TimelineItem, utcnow


@dataclass(frozen=True)
class NewCase:
    case_id: str
    workflow_id: str
    reply_token: str


def new_case(
    s: Session,
    case_id: str,
    workflow_id: str,
    kind: CaseKind,
    conflict_key: str,
    event_type: str,
    data: BookingEventData,
    opened: dict[str, Any],
) -> NewCase | None:
    """Open a case in the caller's transaction, with its `case_opened` timeline entry; None (and nothing
    written) where a case with this conflict key is there already. Plain INSERTs (no ORM objects, no
    look-up first): this is on every accepted event's path."""
    return _insert_case(
        s, conflict_case_columns(case_id, workflow_id, kind, conflict_key, event_type, data), opened
    )


def new_inquiry(
    s: Session,
    case_id: str,
    workflow_id: str,
    key: str,
    patient_id: str,
    email: str,
    practice_id: str,
    opened: dict[str, Any],
) -> NewCase:
    """Open an inquiry in the caller's transaction: a patient known by their email address only, about no
    appointment (nor slot), filed under the support desk (`practice_id`)."""
    new = _insert_case(
        s,
        dict(
            case_id=case_id,
            workflow_id=workflow_id,
            kind=CaseKind.INQUIRY.value,
            conflict_key=key,
            appointment_id="",
            patient_id=patient_id,
            patient_phone=None,
            patient_email=email,
            practice_id=practice_id,
            event_type="inquiry",
            original_slot={},
            root_cause=None,
        ),
        opened,
    )
    if new is None:  # the key is made from a fresh random email id: taken means a bug, not a repeat
        raise RuntimeError(f"an inquiry with key {key!r} is open already")
    return new


def patient_id_by_email(s: Session, email: str) -> str | None:
    """The patient id an earlier case of this address had (their cases are one patient's), else None."""
    return s.scalars(
        select(Case.patient_id)
        .where(func.lower(Case.patient_email) == email.lower())
        .order_by(Case.opened_at.desc())
        .limit(1)
    ).first()


def _insert_case(s: Session, columns: dict[str, Any], opened: dict[str, Any]) -> NewCase | None:
    row, entry = _case_rows(columns, opened)
    # parameters apart from the statement, which is then compiled once and cached (Core, not the ORM)
    conn = s.connection()
    inserted = conn.execute(insert_once(s, Case, ("conflict_key",)).returning(Case.case_id), row).scalar()
    if inserted is None:
        return None
    conn.execute(insert(TimelineItem), entry)
    return NewCase(row["case_id"], row["workflow_id"], row["reply_token"])


def _case_rows(columns: dict[str, Any], opened: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new case's row and its `case_opened` timeline entry."""
    now = utcnow()
    row = dict(
        **columns,
        status="open",
        needs_rep=False,
        reply_token=secrets.token_urlsafe(16),  # capability for the patient's choice links in emails
        opened_at=now,
        updated_at=now,
    )
    entry = dict(case_id=columns["case_id"], at=now, what="case_opened", key="opened", detail=opened)
    return row, entry


def conflict_case_columns(
    case_id: str, workflow_id: str, kind: CaseKind, conflict_key: str, event_type: str, data: BookingEventData
) -> dict[str, Any]:
    """A booking conflict's case columns, from its event."""
    return dict(
        case_id=case_id,
        workflow_id=workflow_id,
        kind=kind.value,
        conflict_key=conflict_key,
        appointment_id=data.appointment_id,
        patient_id=data.patient.id,
        patient_phone=data.patient.phone,
        patient_email=data.patient.email,
        practice_id=data.practice.id,
        event_type=event_type,
        original_slot=data.slot.model_dump(mode="json"),
        root_cause=data.cause,
    )


def insert_with_case(
    s: Session,
    first_row: dict[str, Any],
    kind: CaseKind,
    conflict_key: str,
    event_type: str,
    data: BookingEventData,
    opened: dict[str, Any],
    case_id: str,
    workflow_id: str,
) -> tuple[int | None, NewCase | None]:
    """PostgreSQL: a booking event's inbox row and, only when it went in (its id was not there), the case
    it opens with its `case_opened` entry (nothing where a case with this conflict key is there already),
    in ONE statement (data-modifying CTEs): one round trip where three were. (row id or None, the new case
    or None), as `insert_once` and `new_case` say one at a time."""
    row, entry = _case_rows(
        conflict_case_columns(case_id, workflow_id, kind, conflict_key, event_type, data), opened
    )
    params = {f"e_{k}": v for k, v in first_row.items()}
    params.update({f"c_{k}": v for k, v in row.items()})
    params.update({f"t_{k}": v for k, v in entry.items() if k != "case_id"})
    statement = _event_case_entry(tuple(first_row), tuple(row))
    row_id, new_id = s.connection().execute(statement, params).one()
    new = NewCase(case_id, workflow_id, row["reply_token"]) if new_id is not None else None
    return (None if row_id is None else int(row_id)), new


@cache
def _event_case_entry(event_columns: tuple[str, ...], case_columns: tuple[str, ...]) -> Any:
    """`insert_with_case`'s statement for rows with these columns, built once (its values are bound
    parameters: e_*, c_*, t_*)."""

    def bound(prefix: str, table: Any, names: list[str]) -> list[Any]:
        return [bindparam(f"{prefix}_{n}", type_=table.c[n].type) for n in names]

    events, cases, timeline = ReceivedEvent.__table__, Case.__table__, TimelineItem.__table__
    first = (
        postgresql.insert(ReceivedEvent)
        .values(dict(zip(event_columns, bound("e", events, list(event_columns)), strict=True)))
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(ReceivedEvent.id)
        .cte("first_row")
    )
    case = (
        postgresql.insert(Case)
        .from_select(
            list(case_columns),
            select(*bound("c", cases, list(case_columns))).where(exists(select(first.c.id))),
        )
        .on_conflict_do_nothing(index_elements=["conflict_key"])
        .returning(Case.case_id)
        .cte("new_case")
    )
    entry_columns = ["at", "what", "key", "detail"]
    opened = (
        insert(TimelineItem)
        .from_select(
            ["case_id", *entry_columns], select(case.c.case_id, *bound("t", timeline, entry_columns))
        )
        .cte("opened_entry")
    )
    return select(select(first.c.id).scalar_subquery(), select(case.c.case_id).scalar_subquery()).add_cte(
        first, case, opened
    )


@dataclass(frozen=True)
class LinkHolder:
    """Whom a case's emailed link speaks for."""

    case_id: str
    patient_id: str
    patient_email: str | None


def link_holder(store: Store, case_id: str, token: str) -> LinkHolder | None:
    """The case an emailed link names, when `token` is its reply token; else None."""
    with store.session() as s:
        case = s.get(Case, case_id)
        if case is None or not hmac.compare_digest(case.reply_token.encode(), token.encode()):
            return None
        return LinkHolder(case.case_id, case.patient_id, case.patient_email)


def add_timeline(store: Store, entry: TimelineEntry) -> None:
    """Append to a case's timeline; an entry with a key lands once however often it is written. No case
    (work with none, e.g. a caller the store does not know by number): nothing to append to."""
    with store.session() as s:
        timeline_in(s, entry)


def timeline_in(s: Session, entry: TimelineEntry) -> None:
    """`add_timeline` in the caller's transaction, with the write it records, in one statement: a keyed
    entry already there is left as it is and an entry of no case is not written (INSERT … SELECT … WHERE
    the case exists ON CONFLICT DO NOTHING: no error that would undo the caller's work)."""
    if not entry.case_id:
        return
    item = TimelineItem.__table__.c
    row = select(
        literal(entry.case_id, item.case_id.type),
        literal(utcnow(), item.at.type),
        literal(entry.what, item.what.type),
        literal(entry.key, item.key.type),
        literal(_jsonable(entry.detail), item.detail.type),
    ).where(exists().where(Case.case_id == entry.case_id))
    statement = insert_once(s, TimelineItem, ("case_id", "key")).from_select(
        ["case_id", "at", "what", "key", "detail"], row
    )
    s.connection().execute(statement)


def update_case(store: Store, update: CaseUpdate) -> None:
    """The case's status (and whatever else the update carries) and its timeline entry, in one transaction
    of two plain statements (no ORM: this is on every step of every case)."""
    values: dict[str, Any] = {"status": update.status.value}  # updated_at: the column's onupdate
    if update.outcome is not None:
        values["outcome"] = update.outcome.value
    if update.needs_rep is not None:
        values["needs_rep"] = update.needs_rep
    if update.new_slot is not None:
        values["new_slot"] = update.new_slot.model_dump(mode="json")
    if update.root_cause is not None:
        values["root_cause"] = update.root_cause
    if update.ticket_id is not None:
        values["ticket_id"] = update.ticket_id
    if update.status.value in ("resolved", "failed"):
        values["closed_at"] = func.coalesce(Case.closed_at, utcnow())
    if update.status.value == "failed" and update.what == "escalation_expired":
        values["failure_kind"] = "escalation_expired"
        values["failure_message"] = "the escalation expired at its last level without an owner"
        values["failure_at"] = utcnow()
    with store.session() as s:
        changed = s.connection().execute(
            sql_update(Case).where(Case.case_id == update.case_id).values(**values)
        )
        if changed.rowcount == 0:
            raise LookupError(f"no case {update.case_id}")
        timeline_in(
            s,
            TimelineEntry(
                case_id=update.case_id,
                what=update.what,
                key=f"status:{update.key or update.what}",
                detail=update.detail,
            ),
        )


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value)


FAILURE_KINDS = ("workflow_failed", "workflow_timed_out", "workflow_terminated", "escalation_expired")


def mark_failed(
    store: Store, workflow_id: str, run_id: str, kind: str, message: str, at: datetime
) -> str | None:
    """The case whose workflow run ended badly becomes `failed`, with why (no patient data in `message`).
    Once per run: a second report of the same run changes nothing. Returns the case id when it changed."""
    assert kind in FAILURE_KINDS, kind
    with store.session() as s:
        case = s.scalar(select(Case).where(Case.workflow_id == workflow_id).with_for_update())
        if case is None or case.failure_run_id == run_id:
            return None
        if case.status == "resolved":
            return None  # it had closed well before whatever happened to the run afterwards
        case.status = "failed"
        case.failure_kind = kind
        case.failure_message = message[:500]
        case.failure_at = at
        case.failure_run_id = run_id
        if case.closed_at is None:
            case.closed_at = utcnow()
        case_id = case.case_id
    add_timeline(
        store,
        TimelineEntry(
            case_id=case_id,
            what="case_failed",
            key=f"failed:{run_id}",
            detail={"failure": kind, "message": message[:500], "run_id": run_id},
        ),
    )
    return case_id


def failure_recorded(store: Store, workflow_id: str, run_id: str) -> bool:
    """This run's ending is on the case already (or no case runs under this workflow id)."""
    with store.session() as s:
        row = s.execute(select(Case.failure_run_id).where(Case.workflow_id == workflow_id)).first()
    return row is None or row.failure_run_id == run_id


def reopen_for_retry(store: Store, case_id: str, by: str) -> None:
    """A failed case is being re-run: it is open again and its failure moves to the timeline's history."""
    with store.session() as s:
        case = s.get(Case, case_id, with_for_update=True)
        if case is None:
            raise LookupError(f"no case {case_id}")
        previous = case.failure_kind
        case.status = "open"
        case.closed_at = None
        case.failure_kind = case.failure_message = None
        case.failure_at = None
        # failure_run_id stays: a late report about the failed run must not fail the case again
    add_timeline(
        store,
        TimelineEntry(
            case_id=case_id,
            what="case_retried",
            key=None,
            detail={"previous_failure": previous, "by": by},
        ),
    )


def retry_not_started(
    store: Store, case_id: str, kind: str | None, message: str | None, at: datetime | None, why: str
) -> None:
    """A retry reopened the case but could not reset its workflow: it is `failed` again, as before."""
    with store.session() as s:
        case = s.get(Case, case_id, with_for_update=True)
        if case is None:
            raise LookupError(f"no case {case_id}")
        case.status = "failed"
        case.failure_kind, case.failure_message, case.failure_at = kind, message, at
        if case.closed_at is None:
            case.closed_at = utcnow()
    add_timeline(
        store,
        TimelineEntry(case_id=case_id, what="case_retry_failed", key=None, detail={"reason": why[:300]}),
    )


def failed_case_ids(store: Store, kinds: tuple[str, ...], since: datetime | None = None) -> list[str]:
    """Failed cases of these kinds, oldest first; `since` on the failure time (or the closing time)."""
    with store.session() as s:
        query = select(Case.case_id).where(Case.status == "failed", Case.kind.in_(kinds))
        if since is not None:
            query = query.where(
                or_(Case.failure_at >= since, (Case.failure_at.is_(None)) & (Case.closed_at >= since))
            )
        return list(s.scalars(query.order_by(Case.opened_at)))


def patient_phone_of(store: Store, case_id: str) -> str | None:
    """Where to call the case's patient (the automatic call dials them in once a rep pressed 1)."""
    with store.session() as s:
        case = s.get(Case, case_id)
        return case.patient_phone if case is not None else None


def email_token_for(store: Store, case_id: str, to: str) -> str | None:
    """The token that names the case in the Reply-To of its email to `to`: made (random) and kept on the
    case the first time; None when `to` is not the case's patient (a staff alert) or there is no case."""
    for _ in range(3):
        try:
            with store.session() as s:
                case = s.get(Case, case_id, with_for_update=True)
                if case is None or not case.patient_email:
                    return None
                if case.patient_email.strip().lower() != to.strip().lower():
                    return None
                if case.email_token is None:
                    case.email_token = new_token()
                return case.email_token
        except IntegrityError:
            continue  # the same random token twice (or two first emails at once): read it again
    return None


def case_by_email_token(s: Session, token: str) -> Case | None:
    return s.scalars(select(Case).where(Case.email_token == token.lower())).first()
