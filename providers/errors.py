"""How a provider call ended, in terms that decide retries and send-once."""

from __future__ import annotations


class ProviderRejected(Exception):
    """A definitive 4xx (not 429): the request was refused and nothing was sent. Never retried."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"provider refused the request ({status}): {reason}")
        self.status = status
        self.reason = reason


class ProviderNotProcessed(Exception):
    """429 or no connection: the provider did not act on it. Safe to retry."""


class ProviderAmbiguous(Exception):
    """5xx or a lost response: the provider may have acted. A retry must check before sending again."""


# what a gateway's `find_sent` answers when its provider cannot be asked what it sent (SendGrid): the
# outcome of the earlier attempt stays unknown
UNVERIFIABLE = "unverified"
