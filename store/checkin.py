"""Check-in watches (where replies to the prompt are routed) and the check-in-trouble cases they open."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain import ids
from domain.base import CaseKind
from domain.cases import CaseStatus
from domain.checkin import TroubleCase, TroubleCaseRequest, WatchRecord, WatchStatus
from domain.events import EventType
from store import cases
from store.db import Store
from store.models import Case, CheckInWatchRow, InboundMessage

# replies from the patient reach a watch that has sent its prompt (and, once a case is open, are passed on
# to that case)
ROUTED_STATUSES = (WatchStatus.LISTENING.value, WatchStatus.TROUBLE.value)


def record_watch(store: Store, rec: WatchRecord) -> None:
    """Write the watch's row as the workflow sees it now (one row per appointment)."""
    for _ in range(2):
        try:
            with store.session() as s:
                row = s.get(CheckInWatchRow, rec.appointment_id, with_for_update=True)
                if row is None:
                    row = CheckInWatchRow(appointment_id=rec.appointment_id)
                    s.add(row)
                row.workflow_id = rec.workflow_id
                row.patient_id = rec.patient_id
                row.patient_phone = rec.patient_phone
                row.status = rec.status.value
                row.slot_start = rec.slot_start
                row.prompt_at = rec.prompt_at
                row.listen_until = rec.listen_until
                row.case_id = rec.case_id
            return
        except IntegrityError:
            continue  # inserted concurrently by a retry: update it
    raise RuntimeError("could not record the check-in watch")


def open_trouble_case(store: Store, req: TroubleCaseRequest) -> TroubleCase:
    """The case for this appointment at this time: opened once, found again by its conflict key."""
    key = ids.checkin_conflict_key(req.appointment_id, req.data.slot)
    data = req.data
    case_id = ids.case_id_for(key)
    with store.session() as s:
        opened = cases.new_case(
            s,
            case_id,
            ids.checkin_trouble_workflow_id(case_id),
            CaseKind.CHECKIN_TROUBLE,
            key,
            EventType.APPOINTMENT_BOOKED.value,
            data,
            opened={"kind": CaseKind.CHECKIN_TROUBLE.value, "appointment_id": data.appointment_id},
        )
        if opened is None:  # opened before (a retry, a second report): found by its key
            case = s.scalars(select(Case).where(Case.conflict_key == key)).one()
            _adopt_reply(s, case.case_id, req.reply_ref)
            return TroubleCase(
                case_id=case.case_id,
                workflow_id=case.workflow_id,
                reply_token=case.reply_token,
                status=CaseStatus(case.status),
                opened=False,
            )
        _adopt_reply(s, case_id, req.reply_ref)
        return TroubleCase(
            case_id=case_id,
            workflow_id=opened.workflow_id,
            reply_token=opened.reply_token,
            status=CaseStatus.OPEN,
            opened=True,
        )


def _adopt_reply(s: Session, case_id: str, reply_ref: str | None) -> None:
    """The reply that reported the trouble arrived before its case existed (routed to the watch): it is
    the case's first message, shown to the rep as what the patient wrote."""
    if reply_ref:
        s.execute(
            update(InboundMessage)
            .where(InboundMessage.provider_id == reply_ref, InboundMessage.case_id.is_(None))
            .values(case_id=case_id)
        )
