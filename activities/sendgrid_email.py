"""SendGrid's activity: email, sent once (`activities.outbound`) through the mail gateway
(`providers.mail`)."""

from __future__ import annotations

from temporalio import activity

from activities.outbound import send_once
from domain.messaging import OutboundMessage, SendResult
from providers.mail import MailGateway
from store.db import Store


class SendGridActivities:
    def __init__(self, store: Store, gateway: MailGateway) -> None:
        self.store = store
        self.gateway = gateway

    @activity.defn
    async def send_email(self, msg: OutboundMessage) -> SendResult:
        return await send_once(self.store, msg, self.gateway.send_email, self.gateway.find_sent, "email_sent")
