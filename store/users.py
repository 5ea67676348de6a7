"""Console users: created by `cli.py users add`, changed by `users set`, ended by `users deactivate`.
Passwords are kept as scrypt hashes (stdlib, no extra dependency) that carry their own parameters
(`scrypt$N$r$p$salt$digest`), compared in constant time; a hash made with older, cheaper parameters
still verifies and is replaced by one at the current cost on the next successful login."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.db import Store
from store.models import ConsoleSession, User

# OWASP's current guidance for scrypt: N=2^17, r=8, p=1 (128 MiB, a few hundred ms)
N, R, P = 2**17, 8, 1
# the most a stored hash may ask for (a hash is data: it must not make a login take a gigabyte)
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16
ROLES = ("engineer", "supervisor", "rep", "auditor")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # hashlib's default maxmem (32 MiB) refuses N=2^17, r=8 (128 * r * N bytes = 128 MiB)
    maxmem = 128 * r * (n + p + 2) + 16 * 2**20
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=maxmem)


def hash_password(password: str, n: int = N, r: int = R, p: int = P) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, r, p)
    return f"scrypt${n}${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return None
        cost = int(n), int(r), int(p)
        raw = base64.b64decode(salt, validate=True), base64.b64decode(digest, validate=True)
    except (ValueError, binascii.Error):
        return None
    n_, r_, p_ = cost
    if not (1 < n_ <= _MAX_N and n_ & (n_ - 1) == 0 and 0 < r_ <= _MAX_R and 0 < p_ <= _MAX_P):
        return None
    return n_, r_, p_, raw[0], raw[1]


def password_matches(password: str, stored: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


def needs_rehash(stored: str) -> bool:
    """Made with other parameters than today's: replace it at the next successful login."""
    parsed = _parse(stored)
    return parsed is None or parsed[:3] != (N, R, P)


class UserExists(Exception):
    """`users add` of a name already taken: change it with `users set` instead."""


class NoSuchUser(Exception):
    pass


def _check(role: str | None, password: str | None) -> None:
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    if password is not None and len(password) < 10:
        raise ValueError("a password needs at least 10 characters")


def add_user(
    store: Store,
    username: str,
    role: str,
    password: str,
    phone: str | None = None,
    display_name: str | None = None,
) -> User:
    """Create a user; UserExists when the name is taken (change an existing user with `set_user`)."""
    _check(role, password)
    password_hash = hash_password(password)
    with store.session() as s:
        if s.get(User, username) is not None:
            raise UserExists(username)
        user = User(
            username=username,
            role=role,
            password_hash=password_hash,
            phone=phone,
            display_name=display_name,
            active=True,
        )
        s.add(user)
        return user


_KEEP = object()  # set_user: leave this field as it is


@dataclass(frozen=True)
class Changed:
    user: User
    changes: list[str]
    sessions_ended: int


def set_user(
    store: Store,
    username: str,
    *,
    role: str | None = None,
    phone: object = _KEEP,
    display_name: str | None = None,
    password: str | None = None,
    activate: bool = False,
) -> Changed:
    """Change only what is given (`phone=None` removes the phone). A new password ends the user's
    sessions: whoever signed in with the old one is signed out."""
    _check(role, password)
    password_hash = hash_password(password) if password is not None else None
    changes: list[str] = []
    ended = 0
    with store.session() as s:
        user = s.get(User, username)
        if user is None:
            raise NoSuchUser(username)
        if role is not None:
            user.role = role
            changes.append("role")
        if phone is not _KEEP:
            assert phone is None or isinstance(phone, str)
            user.phone = phone
            changes.append("phone")
        if display_name is not None:
            user.display_name = display_name
            changes.append("name")
        if password_hash is not None:
            user.password_hash = password_hash
            changes.append("password")
            ended = _end_sessions(s, username)
        if activate:
            user.active = True
            changes.append("active")
        return Changed(user, changes, ended)


def deactivate(store: Store, username: str) -> int:
    """The user can no longer sign in, and every session of theirs ends now; how many ended."""
    with store.session() as s:
        user = s.get(User, username)
        if user is None:
            raise NoSuchUser(username)
        user.active = False
        return _end_sessions(s, username)


def _end_sessions(s: Session, username: str) -> int:
    result = s.execute(delete(ConsoleSession).where(ConsoleSession.username == username))
    return int(getattr(result, "rowcount", 0) or 0)


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The user, when the password is right; a hash made at an older cost is then replaced."""
    with store.session() as s:
        user = s.get(User, username)
    if user is None or not user.active:
        # spend the same time as a real check: no hint which usernames exist
        password_matches(password, _dummy_hash())
        return None
    if not password_matches(password, user.password_hash):
        return None
    if needs_rehash(user.password_hash):
        upgraded = hash_password(password)
        with store.session() as s:
            row = s.get(User, username)
            if row is not None and row.password_hash == user.password_hash:
                row.password_hash = upgraded
        user.password_hash = upgraded
    return user


def get(store: Store, username: str) -> User | None:
    with store.session() as s:
        return s.get(User, username)


def all_users(store: Store) -> list[User]:
    with store.session() as s:
        return list(s.scalars(select(User).order_by(User.username)))


def phone_of(store: Store, username: str) -> str | None:
    user = get(store, username)
    return user.phone if user is not None and user.active else None


@functools.cache
def _dummy_hash() -> str:
    """At today's cost, made on first use (not at import: the CLI need not pay for it)."""
    return hash_password("not-a-real-password")
