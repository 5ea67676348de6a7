"""Sends events and relays stored ones (commands/events.py; the dispatch itself is dispatch/dispatcher.py).

python starter.py send examples/booking_conflict.json   sign and send a sample event to the running system
python starter.py send examples/appointment_booked.json --in-minutes 3
                                                         a booking whose check-in prompt comes in 3 minutes
python starter.py send examples/appointment_booked.json --type booking.appointment_rescheduled \
    --appointment-id appt-1234abcd --in-minutes 10       move that appointment (or cancel it:
                                                         --type booking.appointment_cancelled)
python starter.py relay                                  dispatch stored events that are still pending
"""

from __future__ import annotations

import sys

try:
    from commands import run
    from commands.events import starter_app
except ModuleNotFoundError as missing:  # a Python without makeright's packages (not the venv's)
    raise SystemExit(
        f"makeright: this Python ({sys.executable}) lacks the package {missing.name!r}. "
        "Set up the venv with `make setup`, then run "
        "`.venv/bin/python starter.py …` (or `make run`, `make test`)."
    ) from None


def main(argv: list[str] | None = None) -> int:
    return run(starter_app, argv, "starter.py")


if __name__ == "__main__":
    raise SystemExit(main())
