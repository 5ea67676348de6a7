"""`users add|set|deactivate|list`: console users (store/users.py)."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from commands.common import JsonOpt, emit_json, fail, load, out, store_for
from domain import phones
from store import users
from store.db import migrate

users_app = typer.Typer(help="console users", no_args_is_help=True)


def phone_option(phone: str | None) -> str | None:
    """--phone parsed like every number that enters (domain.phones): E.164 out, or exit 2 with why."""
    if phone is None:
        return None
    try:
        return phones.normalise(phone)
    except phones.PhoneError as exc:
        raise fail(f"--phone {phone!r} {exc}", 2) from None


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (at least 10 characters): ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help=f"one of {', '.join(users.ROLES)}")],
    phone: Annotated[str | None, typer.Option(help="where the bridge call rings this user, +E164")] = None,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="password from stdin")] = False,
) -> None:
    """Create a console user. The password is prompted for (twice), or read from stdin. An existing user
    is refused: change one with `users set`."""
    if role not in users.ROLES:
        raise typer.BadParameter(f"{role!r} is not one of {', '.join(users.ROLES)}", param_hint="--role")
    phone = phone_option(phone)
    settings = load()
    migrate(settings.database_url)  # users are often added before the first `make run`
    store = store_for(settings)
    if users.get(store, username) is not None:  # before asking for a password that would not be used
        raise fail(_exists(username))
    try:
        password = read_password(password_stdin)
        user = users.add_user(store, username, role, password, phone=phone, display_name=name)
    except users.UserExists:
        raise fail(_exists(username)) from None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    out.print(f"user {escape(user.username)} ({user.role}) saved")


def _exists(username: str) -> str:
    return (
        f"user {username!r} exists already; change it with `cli.py users set {username} "
        "[--role R] [--phone +E164 | --no-phone] [--name N] [--password-stdin] [--activate]`"
    )


@users_app.command("set")
def users_set(
    username: str,
    role: Annotated[str | None, typer.Option(help=f"one of {', '.join(users.ROLES)}")] = None,
    phone: Annotated[str | None, typer.Option(help="where the bridge call rings this user, +E164")] = None,
    no_phone: Annotated[bool, typer.Option("--no-phone", help="remove the phone number")] = False,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="a new password from stdin (ends their sessions)")
    ] = False,
    activate: Annotated[bool, typer.Option("--activate", help="allow sign-ins again")] = False,
) -> None:
    """Change a console user: only what is given changes."""
    if role is not None and role not in users.ROLES:
        raise typer.BadParameter(f"{role!r} is not one of {', '.join(users.ROLES)}", param_hint="--role")
    if phone is not None and no_phone:
        raise fail("give --phone or --no-phone, not both", 2)
    phone = phone_option(phone)
    if (
        role is None
        and phone is None
        and not no_phone
        and name is None
        and not password_stdin
        and not activate
    ):
        raise fail(
            "nothing to change: give --role, --phone, --no-phone, --name, --password-stdin or --activate", 2
        )
    settings = load()
    migrate(settings.database_url)
    changes: dict[str, Any] = {"role": role, "display_name": name, "activate": activate}
    if phone is not None or no_phone:
        changes["phone"] = phone
    try:
        if password_stdin:
            changes["password"] = read_password(True)
        changed = users.set_user(store_for(settings), username, **changes)
    except users.NoSuchUser:
        raise fail(f"no user {username!r} (create one with `cli.py users add`)") from None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    ended = f"; {changed.sessions_ended} session(s) ended" if changed.sessions_ended else ""
    out.print(f"user {escape(username)} changed: {', '.join(changed.changes)}{ended}")


@users_app.command("deactivate")
def users_deactivate(username: str) -> None:
    """No more sign-ins for this user; their console sessions end now (`users set NAME --activate`
    undoes it)."""
    settings = load()
    migrate(settings.database_url)
    try:
        ended = users.deactivate(store_for(settings), username)
    except users.NoSuchUser:
        raise fail(f"no user {username!r}") from None
    out.print(f"user {escape(username)} deactivated; {ended} session(s) ended")


@users_app.command("list")
def users_list(as_json: JsonOpt = False) -> None:
    """Console users (never their passwords)."""
    settings = load()
    migrate(settings.database_url)
    found = users.all_users(store_for(settings))
    rows = [
        {
            "username": u.username,
            "role": u.role,
            "active": u.active,
            "phone": u.phone,  # staff numbers, shown as before (patients' are masked everywhere)
            "name": u.display_name,
        }
        for u in found
    ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        out.print("no users")
        return
    table = Table("user", "role", "state", "phone", "name")
    for u in found:
        state = "active" if u.active else "inactive"
        table.add_row(escape(u.username), u.role, state, u.phone or "-", escape(u.display_name or ""))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
