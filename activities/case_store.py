"""The case store as seen from workflows: status changes and timeline entries."""

from __future__ import annotations

import asyncio

from temporalio import activity

from domain.booking_conflict import EarlierOfferRequest
from domain.cases import CaseUpdate, TimelineEntry
from domain.escalation import EscalationRecord
from domain.feedback import (
    FeedbackAnswer,
    FeedbackAsked,
    FeedbackClosed,
    FeedbackOutlook,
    FeedbackOutlookRequest,
)
from domain.messaging import ContactHistory, ContactHistoryRequest
from store import cases, conversation, escalations, feedback, outbox
from store.db import Store


class CaseStoreActivities:
    def __init__(self, store: Store) -> None:
        self.store = store

    @activity.defn
    async def update_case(self, update: CaseUpdate) -> None:
        await asyncio.to_thread(cases.update_case, self.store, update)

    @activity.defn
    async def add_timeline(self, entry: TimelineEntry) -> None:
        await asyncio.to_thread(cases.add_timeline, self.store, entry)

    @activity.defn
    async def contact_history(self, req: ContactHistoryRequest) -> ContactHistory:
        """What went to the patient lately (any case but this one), and whether an exchange is under way."""
        return await asyncio.to_thread(outbox.contact_history, self.store, req)

    @activity.defn
    async def record_escalation(self, rec: EscalationRecord) -> None:
        await asyncio.to_thread(escalations.record, self.store, rec)

    @activity.defn
    async def feedback_outlook(self, req: FeedbackOutlookRequest) -> FeedbackOutlook:
        """What a rating request decides from: the patient's other cases, their rating requests, and the
        conversations started with them lately."""
        return await asyncio.to_thread(feedback.outlook, self.store, req)

    @activity.defn
    async def feedback_asked(self, req: FeedbackAsked) -> str:
        """The feedback request went out: replies by phone route to it now. The case's reply token."""
        return await asyncio.to_thread(feedback.asked, self.store, req)

    @activity.defn
    async def feedback_answered(self, answer: FeedbackAnswer) -> bool:
        return await asyncio.to_thread(feedback.answered, self.store, answer)

    @activity.defn
    async def feedback_closed(self, end: FeedbackClosed) -> None:
        await asyncio.to_thread(feedback.closed, self.store, end)

    @activity.defn
    async def earlier_offer_open(self, req: EarlierOfferRequest) -> str | None:
        """The earlier case of the patient's that has (or is about to have) an offer open, if any."""
        return await asyncio.to_thread(
            conversation.earlier_offer_open, self.store, req.case_id, req.patient_phone
        )
