"""The case store as seen from workflows: status changes and timeline entries."""

from __future__ import annotations

import asyncio

from temporalio import activity

from domain.escalation import EscalationRecord
from domain.models import CaseUpdate, ContactHistory, ContactHistoryRequest, TimelineEntry
from store import cases, escalations, outbox
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
