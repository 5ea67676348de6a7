"""Send-once, shared by every channel: record the intent, check before re-sending, record the provider id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.masking import mask_text
from domain.messaging import OutboundMessage, SendResult
from providers.errors import UNVERIFIABLE, ProviderAmbiguous, ProviderNotProcessed, ProviderRejected
from store import outbox
from store.db import Store

log = logging.getLogger(__name__)

Deliver = Callable[[OutboundMessage], str]
FindSent = Callable[[OutboundMessage, datetime], str | None]


async def send_once(
    store: Store, msg: OutboundMessage, deliver: Deliver, find_sent: FindSent, what: str
) -> SendResult:
    """Send `msg` at most once per (case, key), however often the activity is retried or replayed.

    A provider 4xx comes back as `rejected` (the workflow picks another channel); 429 and lost
    connections raise to be retried; a 5xx or crash after the request may have sent, so the next attempt
    asks the provider (`find_sent`) before sending again. A provider that cannot be asked (`UNVERIFIABLE`)
    gets the message once more, marked `resent_reason`: a lost message is worse than a duplicate one.
    """
    before = await asyncio.to_thread(outbox.begin_unless_opted_out, store, msg)
    if before is None:
        # the patient said STOP: never by this channel again (the workflow picks another, or a person)
        return SendResult(message_id="", provider_id=None, status="rejected", reason="opted_out")
    if before.status == "sent":
        return SendResult(message_id=str(before.id), provider_id=before.provider_id, status="already_sent")
    if before.status == "rejected":
        return SendResult(
            message_id=str(before.id), provider_id=None, status="rejected", reason=before.last_error
        )
    if before.status in ("sending", "unknown"):
        # an earlier attempt may have reached the provider and its outcome was lost: look before sending
        # again
        since = before.created_at - timedelta(minutes=1)
        found = await asyncio.to_thread(find_sent, msg, since)
        if found == UNVERIFIABLE and before.resent_reason is None:
            # the provider cannot be asked, and a lost message is worse than a duplicate one: send it
            # again, once, and say so on the row and the case's timeline before the request goes out
            reason = _resent_because(before)
            await asyncio.to_thread(outbox.mark_resent, store, before.id, msg, reason)
            log.warning("%s %s sent again: %s", msg.channel.value, msg.key, reason)
        elif found:
            # found at the provider; or unverifiable again after it was resent once: a third copy is
            # not sent (two unknown outcomes in a row nearly always mean the provider took it)
            await asyncio.to_thread(outbox.sent, store, before.id, found, msg, what)
            return SendResult(message_id=str(before.id), provider_id=found, status="already_sent")
    try:
        provider_id = await asyncio.to_thread(deliver, msg)
    except ProviderRejected as exc:
        await asyncio.to_thread(outbox.rejected, store, before.id, msg, exc.status, exc.reason)
        return SendResult(message_id=str(before.id), provider_id=None, status="rejected", reason=exc.reason)
    except ProviderNotProcessed as exc:
        await asyncio.to_thread(outbox.finish, store, before.id, "failed_retryable", None, str(exc))
        raise ApplicationError(
            f"{msg.channel.value} provider did not process the request; will retry"
        ) from None
    except ProviderAmbiguous as exc:
        await asyncio.to_thread(outbox.finish, store, before.id, "unknown", None, str(exc))
        raise ApplicationError(
            f"{msg.channel.value} provider outcome unknown; will check and retry"
        ) from None
    await asyncio.to_thread(outbox.sent, store, before.id, provider_id, msg, what)
    log.info("%s %s sent to %s (attempt %s)", msg.channel.value, msg.key, mask_text(msg.to), _attempt())
    return SendResult(message_id=str(before.id), provider_id=provider_id, status="sent")


def _resent_because(before: outbox.Intent) -> str:
    if before.status == "sending":
        why = "the attempt stopped before its outcome was recorded"
    else:
        why = f"the provider's answer was lost ({before.last_error or 'no answer'})"
    return f"resent: outcome of the first attempt unknown; {why}"


def _attempt() -> int:
    try:
        return activity.info().attempt
    except RuntimeError:
        return 1
