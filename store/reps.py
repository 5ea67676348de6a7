"""Reps on duty as last saved by the router (placeholder until the floor branch lands)."""

from __future__ import annotations

from domain.routing import FloorSnapshot
from store.db import Store


def save_floor(store: Store, snapshot: FloorSnapshot) -> None:
    del store, snapshot
