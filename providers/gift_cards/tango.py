"""Tango Card RaaS v2 (GIFT_CARD_MODE=tango): orders over HTTP, send-once on `externalRefID`."""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.base import PROVIDER_REJECTED
from providers.errors import ProviderAmbiguous, ProviderNotProcessed, ProviderRejected

# Tango's own limit on externalRefID
EXTERNAL_REF_MAX = 100
_URL = re.compile(r"https?://[^\s\"'<>]+")

log = logging.getLogger(__name__)


class TangoGiftCards:
    """Tango Card RaaS v2 (`POST /orders`, basic auth with the platform name and key).

    Send-once: every order carries `externalRefID` (the case's gift-card key), so Tango returns the
    original order for a repeat instead of a second card. An answer that never came (a 5xx, a dropped
    connection, a timeout) may still have bought the card: it is followed by `GET /orders?externalRefID=`
    before anything is ordered again, in the same attempt and at the start of every later attempt. A 4xx
    other than 429 is final (`ProviderRejected`: 402 is an account without funds, for people to fix); 429
    and an unreachable Tango were not processed and are retried by the activity's policy, at the rate of
    the gift-card task queue (Tango allows one order a second).

    The patient gets the reward's redemption link from the order (`sendEmail: false`: makeright sends
    it in the patient's language). Nothing else of the reward (claim codes, PINs) is kept or logged."""

    def __init__(
        self,
        base_url: str,
        platform_name: str,
        platform_key: str,
        account_identifier: str,
        customer_identifier: str,
        utid: str,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        event_hooks: dict[str, list[Any]] | None = None,
    ) -> None:
        self.account_identifier = account_identifier
        self.customer_identifier = customer_identifier
        self.utid = utid
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=(platform_name, platform_key),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
            event_hooks=event_hooks or {},
        )

    def order(self, external_ref: str, amount: Decimal, currency: str) -> tuple[str, str]:
        if len(external_ref) > EXTERNAL_REF_MAX:
            raise ValueError(f"externalRefID over {EXTERNAL_REF_MAX} characters")
        if _earlier_attempt():
            # an earlier attempt may have bought it and lost the answer: look before ordering again
            found = self.find(external_ref)
            if found is not None:
                return _order_result(found)
        try:
            placed = self.place(external_ref, amount)
        except ProviderAmbiguous:
            found = self._find_after_loss(external_ref)
            if found is None:
                raise
            placed = found
        charged = (placed.get("denomination") or {}).get("currencyCode")
        if charged and charged != currency:
            # bought already: undoing it is for people; TANGO_UTID is a reward in another currency
            log.warning(
                "tango order %s is in %s, the compensation in %s: check TANGO_UTID",
                placed.get("referenceOrderID"),
                charged,
                currency,
            )
        return _order_result(placed)

    def place(self, external_ref: str, amount: Decimal) -> dict[str, Any]:
        """`POST /orders`: 201 a new order, 200 the original for a repeated externalRefID."""
        body = {
            "accountIdentifier": self.account_identifier,
            "customerIdentifier": self.customer_identifier,
            "utid": self.utid,
            "amount": float(amount),
            "externalRefID": external_ref,
            "sendEmail": False,
        }
        try:
            answer = self.client.post("/orders", json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ProviderNotProcessed(f"tango unreachable: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise ProviderAmbiguous(f"tango answer lost: {type(exc).__name__}") from None
        return _json(answer, "POST /orders")

    def find(self, external_ref: str) -> dict[str, Any] | None:
        """`GET /orders?externalRefID=…`: the order placed under this reference, if any (its details, with
        the reward, from `GET /orders/{referenceOrderID}`)."""
        try:
            answer = self.client.get(
                "/orders",
                params={
                    "externalRefID": external_ref,
                    "accountIdentifier": self.account_identifier,
                    "customerIdentifier": self.customer_identifier,
                },
            )
            listed = _json(answer, "GET /orders").get("orders") or []
            match = next((o for o in listed if o.get("externalRefID") == external_ref), None)
            if match is None:
                return None
            reference = str(match["referenceOrderID"])
            if isinstance(match.get("reward"), dict):
                return dict(match)
            return _json(self.client.get(f"/orders/{reference}"), "GET /orders/{referenceOrderID}")
        except httpx.TransportError as exc:
            raise ProviderNotProcessed(f"tango unreachable: {type(exc).__name__}") from None

    def _find_after_loss(self, external_ref: str) -> dict[str, Any] | None:
        try:
            return self.find(external_ref)
        except (ProviderNotProcessed, ProviderAmbiguous):
            return None  # still unknown: the next attempt looks first


def _earlier_attempt() -> bool:
    return activity.in_activity() and activity.info().attempt > 1


def _json(answer: httpx.Response, what: str) -> dict[str, Any]:
    status = answer.status_code
    if status == 429:
        raise ProviderNotProcessed(f"tango 429 on {what}")
    if status >= 500:
        raise ProviderAmbiguous(f"tango {status} on {what}")
    if status >= 400:
        raise ProviderRejected(status, _reason(answer))
    try:
        data = answer.json()
    except ValueError:
        raise ProviderAmbiguous(f"tango {status} on {what}: no JSON in the answer") from None
    if not isinstance(data, dict):
        raise ProviderAmbiguous(f"tango {status} on {what}: unexpected answer")
    return data


def _reason(answer: httpx.Response) -> str:
    """Tango's error body (`message`, `errors[].message`), or the status line: never the request."""
    try:
        data = answer.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        messages = [str(data["message"])] if data.get("message") else []
        messages += [str(e.get("message")) for e in data.get("errors") or [] if isinstance(e, dict)]
        if messages:
            return "; ".join(messages)[:300]
    return answer.reason_phrase or f"HTTP {answer.status_code}"


def _order_result(order: dict[str, Any]) -> tuple[str, str]:
    reference = order.get("referenceOrderID")
    if not reference:
        raise ProviderAmbiguous("tango order without referenceOrderID")
    link = redemption_link(order)
    if link is None:
        # bought, but nothing to send the patient: the reward (TANGO_UTID) must be one delivered as a link
        raise ApplicationError(
            f"tango order {reference} has no redemption link: TANGO_UTID must be a link reward",
            type=PROVIDER_REJECTED,
            non_retryable=True,
        )
    return str(reference), link


def redemption_link(order: dict[str, Any]) -> str | None:
    """The reward's redemption URL: a `url` credential in `reward.credentialList`, else a URL in the
    `reward.credentials` map (Tango sends some as an HTML anchor)."""
    reward = order.get("reward") or {}
    for credential in reward.get("credentialList") or []:
        if not isinstance(credential, dict):
            continue
        kind = f"{credential.get('type', '')} {credential.get('credentialType', '')}".lower()
        if "url" in kind or "link" in kind:
            found = _URL.search(str(credential.get("value") or ""))
            if found:
                return found.group(0)
    credentials = reward.get("credentials") or {}
    if isinstance(credentials, dict):
        for label, value in credentials.items():
            if "url" in str(label).lower() or "link" in str(label).lower():
                found = _URL.search(str(value))
                if found:
                    return found.group(0)
    return None
