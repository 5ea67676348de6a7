"""The web app's dispatcher with Temporal replaced by a record of what each workflow would be told: for web
tests that check what reaches a case's workflow without running one."""

from __future__ import annotations

from typing import Any

from config import Settings
from dispatch.dispatcher import Dispatcher
from store.db import Store


class RecordingSignals(Dispatcher):
    """Every signal the dispatcher would send, as (workflow id, signal, argument); each one 'dispatched'."""

    def __init__(self, settings: Settings, store: Store) -> None:
        super().__init__(settings, store)
        self.signals: list[tuple[str, str, Any]] = []

    async def _signal(self, workflow_id: str, signal: str, argument: object) -> str:
        self.signals.append((workflow_id, signal, argument))
        return "dispatched"
