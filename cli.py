"""Engineers' command line: look at cases and at what was refused.

python cli.py cases [--status S] [--appointment A]    list cases, newest first
python cli.py case CASE_ID                             one case with its timeline (contact details masked)
python cli.py dead-letters [--limit N]                 refused input, with the reasons
"""

from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy import select

from config import ConfigError, load_settings
from domain.masking import mask_text
from store.db import Store
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
    else:
        show_dead_letters(store, args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
