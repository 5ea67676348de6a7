"""The browser the browser tests drive: Debian's Chromium, or the one $CHROMIUM names (as
scripts/ensure-chromium, which `make test` runs first, checks and installs)."""

from __future__ import annotations

import os
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    return os.environ.get("CHROMIUM") or "/usr/bin/chromium"


def launch_chromium(playwright: Any) -> Any:
    """A headless Chromium from a Playwright (sync or async) instance."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
