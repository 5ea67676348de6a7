"""Consent per channel and address: an opt-out is written when the patient's words arrive and read by
send-once before every message, so it binds every case at once without telling each workflow."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.db import Store
from store.models import Consent, utcnow


def record(
    store: Store, channel: str, address: str, opted_out: bool, source: str, patient_id: str | None = None
) -> None:
    status = "opted_out" if opted_out else "opted_in"
    for _ in range(2):
        try:
            with store.session() as s:
                row = s.scalars(
                    select(Consent).where(Consent.channel == channel, Consent.address == address)
                ).first()
                if row is None:
                    row = Consent(channel=channel, address=address, source=source)
                    s.add(row)
                row.status = status
                row.source = source
                row.patient_id = patient_id or row.patient_id
                row.changed_at = utcnow()
            return
        except IntegrityError:
            continue


def opted_out(store: Store, channel: str, address: str) -> bool:
    with store.session() as s:
        return opted_out_in(s, channel, address)


def opted_out_in(s: Session, channel: str, address: str) -> bool:
    """`opted_out` in the caller's transaction."""
    status = s.scalar(select(Consent.status).where(Consent.channel == channel, Consent.address == address))
    return status == "opted_out"
