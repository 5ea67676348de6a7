"""The local mailbox records the Reply-To that names the case (INBOUND_EMAIL_ADDRESS); unset, none."""

from __future__ import annotations

from sqlalchemy import select

from activities.sendgrid_email import SendGridActivities
from domain.messaging import Channel, OutboundMessage
from providers.mail.local import LocalMailbox
from store.db import Store
from store.models import Case, LocalDelivery
from tests.support.prism import add_case


def mail_to_patient(store: Store, case_id: str, key: str) -> OutboundMessage:
    with store.session() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.patient_email
        to = case.patient_email
    return OutboundMessage(case_id=case_id, key=key, channel=Channel.EMAIL, to=to, subject="s", body="b")


async def test_the_local_mailbox_keeps_the_reply_to(store: Store) -> None:
    case_id = add_case(store)
    activities = SendGridActivities(store, LocalMailbox(store, "noreply@x.example"), "care@reply.example.com")

    await activities.send_email(mail_to_patient(store, case_id, "offer-mail"))
    await activities.send_email(mail_to_patient(store, case_id, "second-mail"))

    with store.session() as s:
        token = s.get(Case, case_id).email_token  # type: ignore[union-attr]
        kept = s.scalars(select(LocalDelivery.reply_to).order_by(LocalDelivery.id)).all()
    assert token and kept == [f"care+{token}@reply.example.com"] * 2  # one token per case, kept


async def test_no_inbound_address_no_reply_to(store: Store) -> None:
    case_id = add_case(store)
    activities = SendGridActivities(store, LocalMailbox(store, "noreply@x.example"))

    await activities.send_email(mail_to_patient(store, case_id, "offer-mail"))

    with store.session() as s:
        assert s.scalars(select(LocalDelivery.reply_to)).all() == [None]
        assert s.get(Case, case_id).email_token is None  # type: ignore[union-attr]


async def test_an_email_opt_out_withholds_every_later_email_to_that_address(store: Store) -> None:
    from store import consent

    case_id = add_case(store)
    msg = mail_to_patient(store, case_id, "offer-mail")
    consent.record(store, "email", msg.to, True, source="sendgrid_inbound")
    activities = SendGridActivities(store, LocalMailbox(store, "noreply@x.example"), "care@reply.example.com")

    result = await activities.send_email(msg)

    assert (result.status, result.reason) == ("rejected", "opted_out")
    with store.session() as s:
        assert s.scalars(select(LocalDelivery)).all() == []
