"""SendGrid's activity: email, sent once (`activities.outbound`) through the mail gateway
(`providers.mail`)."""

from __future__ import annotations

import asyncio

from temporalio import activity

from activities.outbound import send_once
from domain.inbound_email import reply_address
from domain.messaging import OutboundMessage, SendResult
from providers.mail import MailGateway
from store import cases
from store.db import Store


class SendGridActivities:
    def __init__(self, store: Store, gateway: MailGateway, inbound_address: str = "") -> None:
        self.store = store
        self.gateway = gateway
        # INBOUND_EMAIL_ADDRESS: every email to a patient gets a Reply-To there that names its case
        self.inbound_address = inbound_address

    @activity.defn
    async def send_email(self, msg: OutboundMessage) -> SendResult:
        msg = await asyncio.to_thread(with_reply_to, self.store, msg, self.inbound_address)
        return await send_once(self.store, msg, self.gateway.send_email, self.gateway.find_sent, "email_sent")


def with_reply_to(store: Store, msg: OutboundMessage, inbound_address: str) -> OutboundMessage:
    """The message with the case's Reply-To when it goes to the case's patient (staff alerts get none)
    and INBOUND_EMAIL_ADDRESS is set."""
    if not inbound_address or msg.reply_to:
        return msg
    token = cases.email_token_for(store, msg.case_id, msg.to)
    if token is None:
        return msg
    return msg.model_copy(update={"reply_to": reply_address(inbound_address, token)})
