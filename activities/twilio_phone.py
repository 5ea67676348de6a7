"""Twilio's activities: SMS, calls with keypad choices and the rep's bridge call, each sent once
(`activities.outbound`) through the phone gateway (`providers.phone`)."""

from __future__ import annotations

import asyncio

from temporalio import activity

from activities.outbound import send_once
from domain.messages import bridge_intro
from domain.messaging import BridgeCallRequest, Channel, OutboundMessage, SendResult
from providers.phone import PhoneGateway
from store import users
from store.db import Store


class TwilioActivities:
    def __init__(self, store: Store, gateway: PhoneGateway) -> None:
        self.store = store
        self.gateway = gateway

    @activity.defn
    async def send_sms(self, msg: OutboundMessage) -> SendResult:
        return await send_once(self.store, msg, self.gateway.send_sms, self.gateway.find_sent, "sms_sent")

    @activity.defn
    async def place_call(self, msg: OutboundMessage) -> SendResult:
        return await send_once(
            self.store, msg, self.gateway.place_call, self.gateway.find_sent, "call_placed"
        )

    @activity.defn
    async def bridge_call(self, req: BridgeCallRequest) -> SendResult:
        """Ring the rep's phone (from their console profile) and bridge the patient in."""
        rep_phone = await asyncio.to_thread(users.phone_of, self.store, req.rep_user)
        if rep_phone is None:
            return SendResult(
                message_id="", provider_id=None, status="rejected", reason="no phone on file for the rep"
            )
        msg = OutboundMessage(
            case_id=req.case_id,
            key=req.key,
            channel=Channel.VOICE,
            to=rep_phone,
            body=bridge_intro(req.language),
            dial=req.patient_phone,
            language=req.language,
        )
        return await send_once(
            self.store, msg, self.gateway.place_call, self.gateway.find_sent, "rep_call_placed"
        )
