"""The check-in watch's store work: its routing row, and the check-in-trouble case a reply opens."""

from __future__ import annotations

import asyncio

from temporalio import activity

from domain.checkin import TroubleCase, TroubleCaseRequest, WatchRecord
from store import checkin
from store.db import Store


class CheckInActivities:
    def __init__(self, store: Store) -> None:
        self.store = store

    @activity.defn
    async def record_watch(self, rec: WatchRecord) -> None:
        await asyncio.to_thread(checkin.record_watch, self.store, rec)

    @activity.defn
    async def open_trouble_case(self, req: TroubleCaseRequest) -> TroubleCase:
        return await asyncio.to_thread(checkin.open_trouble_case, self.store, req)
