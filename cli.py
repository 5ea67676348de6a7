"""Engineers' command line: look at cases and at what was refused.

python cli.py cases [--status S] [--appointment A]    list cases, newest first
python cli.py case CASE_ID                             one case with its timeline (contact details masked)
python cli.py dead-letters [--limit N]                 refused input, with the reasons
python cli.py users add NAME --role ROLE [--phone +E164] [--name "Display Name"] [--password-stdin]
                                                       create a console user (or change one); the
                                                       password is prompted for, or read from stdin
python cli.py users list                               console users (never their passwords)
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys

from sqlalchemy import select

from config import ConfigError, load_settings
from domain.masking import mask_text
from store import users
from store.db import Store, migrate
from store.models import DeadLetter
from store.views import case_view, load_cases


def show_cases(store: Store, status: str | None, appointment: str | None, currency: str) -> None:
    for case, ledger, _ in load_cases(store, appointment_id=appointment, status=status):
        view = case_view(case, ledger, [], unmasked=False, currency=currency)
        print(
            f"{view['case_id']}  {view['status']:<15} {view['outcome'] or '-':<17} "
            f"{view['appointment_id']:<20} {view['opened_at'][:19]}  ticket {view['ticket_id'] or '-'}"
        )


def show_case(store: Store, case_id: str, currency: str) -> int:
    found = load_cases(store, case_id=case_id)
    if not found:
        print(f"no case {case_id}", file=sys.stderr)
        return 1
    case, ledger, timeline = found[0]
    print(json.dumps(case_view(case, ledger, timeline, unmasked=False, currency=currency), indent=2))
    return 0


def show_dead_letters(store: Store, limit: int) -> None:
    with store.session() as s:
        letters = s.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)).all()
        for letter in letters:
            reasons = "; ".join(f"{e.get('field')}: {e.get('reason')}" for e in letter.errors)
            preview = mask_text(letter.raw[:120].decode("utf-8", "replace")).replace("\n", " ")
            when = f"{letter.received_at:%Y-%m-%d %H:%M:%S}"
            print(f"#{letter.id}  {when}  {letter.endpoint}  {letter.status_code}")
            print(f"    why:  {mask_text(reasons)}")
            print(f"    body: {preview}{'…' if len(letter.raw) > 120 else ''}")


E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (at least 10 characters): ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def add_user(store: Store, args: argparse.Namespace) -> int:
    if args.phone is not None and not E164.match(args.phone):
        print(
            f"makeright: --phone must be in E.164 form, like +12125550100 (got {args.phone!r})",
            file=sys.stderr,
        )
        return 2
    try:
        password = read_password(args.password_stdin)
        user = users.add_user(
            store, args.username, args.role, password, phone=args.phone, display_name=args.name
        )
    except ValueError as exc:
        print(f"makeright: {exc}", file=sys.stderr)
        return 2
    print(f"user {user.username} ({user.role}) saved")
    return 0


def list_users(store: Store) -> None:
    for user in users.all_users(store):
        state = "active" if user.active else "inactive"
        phone = user.phone or "-"
        print(f"{user.username:<20} {user.role:<11} {state:<9} {phone:<16} {user.display_name or ''}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cli.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cases = sub.add_parser("cases", help="list cases")
    cases.add_argument("--status")
    cases.add_argument("--appointment")
    case = sub.add_parser("case", help="one case with its timeline")
    case.add_argument("case_id")
    letters = sub.add_parser("dead-letters", help="refused input with the reasons")
    letters.add_argument("--limit", type=int, default=50)
    user_cmd = sub.add_parser("users", help="console users").add_subparsers(
        dest="users_command", required=True
    )
    add = user_cmd.add_parser("add", help="create a console user, or change one")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=users.ROLES)
    add.add_argument("--phone", help="where the bridge call rings this user, +E164")
    add.add_argument("--name", help="display name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    user_cmd.add_parser("list", help="console users")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"makeright: {exc}", file=sys.stderr)
        return 2
    store = Store(settings.database_url)
    currency = settings.policy.compensation.currency
    if args.command == "cases":
        show_cases(store, args.status, args.appointment, currency)
    elif args.command == "case":
        return show_case(store, args.case_id, currency)
    elif args.command == "users":
        migrate(settings.database_url)  # users are often added before the first `make run`
        if args.users_command == "add":
            return add_user(store, args)
        list_users(store)
    else:
        show_dead_letters(store, args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
