"""Runs the Temporal worker (runtime/worker.py) with the providers the config chooses.

python worker.py
"""

from __future__ import annotations

import asyncio
import logging

from config import load_settings, logs
from runtime import worker
from runtime.startup import guarded


def _run() -> int:
    settings = load_settings()
    # text or JSON lines, phone numbers and emails masked in every line (the Twilio SDK's request logs
    # at INFO, with numbers and message text, are turned down too)
    logs.configure(settings.log_format, logging.INFO)
    try:
        asyncio.run(worker.run(settings))
    except KeyboardInterrupt:
        pass
    return 0


def main() -> int:
    return guarded(_run)


if __name__ == "__main__":
    raise SystemExit(main())
