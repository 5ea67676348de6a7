"""Console users: created by `cli.py users add`, passwords kept as scrypt hashes (stdlib, no extra
dependency), compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import select

from store.db import Store
from store.models import User

# RFC 7914 parameters suited to interactive logins (~50 ms, 16 MiB)
_N, _R, _P = 2**14, 8, 1
ROLES = ("engineer", "supervisor", "rep", "auditor")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def add_user(
    store: Store,
    username: str,
    role: str,
    password: str,
    phone: str | None = None,
    display_name: str | None = None,
) -> User:
    """Create a user, or replace the role, password and phone of an existing one."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    if len(password) < 10:
        raise ValueError("a password needs at least 10 characters")
    with store.session() as s:
        user = s.get(User, username)
        if user is None:
            user = User(username=username)
            s.add(user)
        user.role = role
        user.password_hash = hash_password(password)
        user.phone = phone
        user.display_name = display_name
        user.active = True
        return user


def authenticate(store: Store, username: str, password: str) -> User | None:
    with store.session() as s:
        user = s.get(User, username)
    if user is None or not user.active:
        # spend the same time as a real check: no hint which usernames exist
        password_matches(password, _DUMMY_HASH)
        return None
    return user if password_matches(password, user.password_hash) else None


def get(store: Store, username: str) -> User | None:
    with store.session() as s:
        return s.get(User, username)


def all_users(store: Store) -> list[User]:
    with store.session() as s:
        return list(s.scalars(select(User).order_by(User.username)))


def phone_of(store: Store, username: str) -> str | None:
    user = get(store, username)
    return user.phone if user is not None and user.active else None


_DUMMY_HASH = hash_password("not-a-real-password")
