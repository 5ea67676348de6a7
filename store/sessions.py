"""Console logins, kept on the server. The browser holds a random token; the table holds only its SHA-256,
so a copy of the database cannot be replayed as a cookie. Each session carries its own CSRF token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete

from store.db import Store
from store.models import ConsoleSession, User, utcnow


@dataclass(frozen=True)
class Login:
    """Who is behind a console cookie, as the pages need it."""

    username: str
    role: str
    display_name: str | None
    phone: str | None
    csrf_token: str

    @property
    def name(self) -> str:
        return self.display_name or self.username


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(store: Store, username: str, minutes: int) -> str:
    """A new session for `username`; returns the cookie's token (never stored as is)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with store.session() as s:
        # tidy up: expired sessions of anybody are of no use
        s.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
        s.add(
            ConsoleSession(
                token_hash=token_hash(token),
                username=username,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + timedelta(minutes=minutes),
            )
        )
    return token


def find(store: Store, token: str | None) -> Login | None:
    """The login behind a cookie token; None when unknown, expired (then it is removed) or the user was
    deactivated."""
    if not token:
        return None
    digest = token_hash(token)
    with store.session() as s:
        row = s.get(ConsoleSession, digest)
        if row is None:
            return None
        user = s.get(User, row.username)
        if row.expires_at <= utcnow() or user is None or not user.active:
            s.delete(row)
            return None
        return Login(
            username=user.username,
            role=user.role,
            display_name=user.display_name,
            phone=user.phone,
            csrf_token=row.csrf_token,
        )


def end(store: Store, token: str | None) -> None:
    if not token:
        return
    with store.session() as s:
        s.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token)))
