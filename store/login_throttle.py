"""Throttling console sign-ins: after too many failures within a window, for the name tried (whether or
not such a user exists: the answer must not tell) or from one address, further attempts are refused
without checking the password until the window has moved past enough of them. Failures are rows in the
database, so every web replica counts the same ones."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from store.db import Store
from store.models import LoginFailure, utcnow

WINDOW = timedelta(minutes=15)
PER_USER = 5
PER_ADDRESS = 20


@dataclass(frozen=True)
class Limits:
    per_user: int = PER_USER
    per_address: int = PER_ADDRESS
    window: timedelta = WINDOW


def _key(username: str) -> str:
    return username.strip().lower()[:100]


def blocked_for(
    store: Store, username: str, address: str, limits: Limits = Limits(), now: datetime | None = None
) -> timedelta | None:
    """How long sign-ins for `username` from `address` are refused still; None when they are not."""
    now = now or utcnow()
    since = now - limits.window
    until: datetime | None = None
    with store.session() as s:
        for column, value, limit in (
            (LoginFailure.username, _key(username), limits.per_user),
            (LoginFailure.address, address[:100], limits.per_address),
        ):
            times = list(
                s.scalars(
                    select(LoginFailure.at)
                    .where(column == value, LoginFailure.at > since)
                    .order_by(LoginFailure.at.desc())
                    .limit(limit)
                )
            )
            if len(times) >= limit:
                # refused until the oldest of the last `limit` failures leaves the window
                lifts = times[-1] + limits.window
                until = lifts if until is None else max(until, lifts)
    return None if until is None or until <= now else until - now


def minutes(wait: timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds() / 60))


def record_failure(store: Store, username: str, address: str, limits: Limits = Limits()) -> None:
    now = utcnow()
    with store.session() as s:
        # tidy up: failures older than the window count for nothing
        s.execute(delete(LoginFailure).where(LoginFailure.at <= now - limits.window))
        s.add(LoginFailure(username=_key(username), address=address[:100], at=now))


def record_success(store: Store, username: str) -> None:
    """The right password: the name's failures are forgotten, but still count for their address (one
    valid account must not reset the count of guesses from there)."""
    key = _key(username)
    if not key:
        return
    with store.session() as s:
        s.execute(update(LoginFailure).where(LoginFailure.username == key).values(username=""))
