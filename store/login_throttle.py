"""Throttling console sign-ins with an exponential back-off, per name tried (whether or not such a user
exists: the answer must not tell) and per client address.

Every attempt is reserved before its password is hashed, in one statement per key that counts it and
returns whether it may go ahead (`reserve`): a parallel burst of attempts cannot all read "no failures yet"
and pass together. A name has `free` attempts in a row; after that each attempt must wait a delay that
doubles (5 s, 10 s, 20 s, … at most 15 minutes), so a guesser gets a few guesses an hour while the rep whose
name they guess is never locked out for longer than the cap: the right password after the back-off gets in,
and forgets the name's attempts. An address has more free attempts (an office behind one NAT), and a
success gives its attempt back. Attempts an hour old are forgotten. The rows are in the database, so every
web replica counts the same attempts."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.db import Store
from store.models import LoginThrottle


@dataclass(frozen=True)
class Backoff:
    free: int  # attempts in a row that never wait
    base_seconds: float = 5.0  # the first wait after them; each further attempt doubles it
    cap_seconds: float = 15 * 60.0  # no wait is longer
    forget_seconds: float = 3600.0  # a key with no attempt for this long starts over

    def delay(self, attempts: int) -> float:
        """The wait before the attempt after the `attempts`-th in a row."""
        if attempts < self.free:
            return 0.0
        return min(self.cap_seconds, self.base_seconds * 2 ** min(attempts - self.free, 30))

    def delays(self) -> dict[int, float]:
        """Every distinct delay by attempt count, up to where the cap is reached (the rest: the cap)."""
        table: dict[int, float] = {}
        n = 1
        while (d := self.delay(n)) < self.cap_seconds:
            table[n] = d
            n += 1
        return table


@dataclass(frozen=True)
class Limits:
    per_user: Backoff = Backoff(free=3)
    per_address: Backoff = Backoff(free=20)


PER_USER = Limits().per_user.free
PER_ADDRESS = Limits().per_address.free


def _user_key(username: str) -> str:
    return "user:" + username.strip().lower()[:100]


def _address_key(address: str) -> str:
    return "addr:" + address[:100]


def _take(s: Session, key: str, backoff: Backoff, now: float) -> bool:
    """One statement: count an attempt for `key` unless it must still wait; whether it was counted."""
    table = LoginThrottle.__table__
    stale = (now - LoginThrottle.last_at) > backoff.forget_seconds
    attempts = case((stale, 1), else_=LoginThrottle.attempts + 1)
    # an attempt that need not wait leaves 0, not `now`: a parallel one that read the clock a moment
    # earlier must not find itself refused
    until = {n: now + d if d else 0.0 for n, d in backoff.delays().items()}
    not_before = (
        case(until, value=attempts, else_=now + backoff.cap_seconds) if until else now + backoff.cap_seconds
    )
    insert: Any = (postgresql if s.get_bind().dialect.name == "postgresql" else sqlite).insert(table)
    first = backoff.delay(1)
    stmt = (
        insert.values(key=key, attempts=1, last_at=now, not_before=now + first if first else 0.0)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={"attempts": attempts, "last_at": now, "not_before": not_before},
            where=LoginThrottle.not_before <= now,
        )
        .returning(table.c.attempts)
    )
    return s.execute(stmt).first() is not None


def reserve(
    store: Store, username: str, address: str, limits: Limits = Limits(), now: float | None = None
) -> float | None:
    """Reserve a sign-in attempt for `username` from `address` before its password is looked at: None
    when it may go ahead (it is counted), else how many seconds it must still wait (nothing is counted)."""
    now = time.time() if now is None else now
    user, addr = _user_key(username), _address_key(address)
    try:
        with store.session() as s:
            # the name first, then the address: two attempts never wait on each other's rows in a cycle
            if not (_take(s, user, limits.per_user, now) and _take(s, addr, limits.per_address, now)):
                raise _MustWait  # rolls back: a refused attempt counts for neither key
        return None
    except _MustWait:
        pass
    with store.session() as s:
        until = s.scalars(select(LoginThrottle.not_before).where(LoginThrottle.key.in_([user, addr])))
        return max(1.0, max(until, default=now) - now)


class _MustWait(Exception):
    pass


def succeeded(store: Store, username: str, address: str, limits: Limits = Limits()) -> None:
    """The right password: the name's attempts are forgotten, and the address gets this attempt back (its
    failures still count: one valid account must not reset the count of guesses from there)."""
    with store.session() as s:
        reset = update(LoginThrottle).where(LoginThrottle.key == _user_key(username))
        s.execute(reset.values(attempts=0, not_before=0.0))
        _give_back(s, _address_key(address), limits.per_address)


def not_tried(store: Store, username: str, address: str, limits: Limits = Limits()) -> None:
    """A reserved attempt whose password was never looked at (the server was too busy): both keys get it
    back."""
    with store.session() as s:
        _give_back(s, _user_key(username), limits.per_user)
        _give_back(s, _address_key(address), limits.per_address)


def _give_back(s: Session, key: str, backoff: Backoff) -> None:
    left = LoginThrottle.attempts - 1
    s.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key, LoginThrottle.attempts > 0)
        .values(attempts=left, not_before=case((left < backoff.free, 0.0), else_=LoginThrottle.not_before))
    )


def blocked_for(store: Store, username: str, address: str, now: float | None = None) -> float | None:
    """How many seconds sign-ins for `username` from `address` must still wait; None when they need not
    (reads only: for tests and operators)."""
    now = time.time() if now is None else now
    with store.session() as s:
        keys = [_user_key(username), _address_key(address)]
        until = max(
            s.scalars(select(LoginThrottle.not_before).where(LoginThrottle.key.in_(keys))), default=0.0
        )
    return until - now if until > now else None


def minutes(wait_seconds: float) -> int:
    return max(1, math.ceil(wait_seconds / 60))
