"""A Tango Card RaaS v2 stand-in that keeps state, for the error paths Prism cannot play (it only answers
the spec's examples): orders kept by `externalRefID` (a repeat answers 200 with the original, as Tango
documents), `GET /orders?externalRefID=` and `GET /orders/{id}`, and scripted faults for the next
`POST /orders` calls:

- `created_then_500`: the order is placed, the answer is a 500 (Tango: "a 5xx may still have completed")
- `created_then_dropped`: the order is placed, the connection closes without an answer
- `500`: nothing placed, 500
- `429`: nothing placed, 429 (Tango's one order a second)
- `402`: nothing placed, 402 insufficient funds (sticky with `refuse_with=402`)
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from providers.gift_cards.tango import TangoGiftCards

PLATFORM = ("makeright-test", "platform-key-1")
ACCOUNT = "makeright-account"
CUSTOMER = "makeright-customer"
UTID = "U561593"
REQUIRED = ("accountIdentifier", "customerIdentifier", "utid", "amount", "sendEmail")


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any] | None


class TangoStub:
    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}  # by externalRefID
        self.faults: list[str] = []
        self.refuse_with: int | None = None
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub._serve(self, "GET")

            def do_POST(self) -> None:
                stub._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/raas/v2"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    # ------------------------------------------------------------------ what the tests read

    def provider(self, **kw: Any) -> TangoGiftCards:
        return TangoGiftCards(self.url, *PLATFORM, ACCOUNT, CUSTOMER, UTID, **kw)

    def posts(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST"]

    def lookups(self) -> list[Call]:
        return [c for c in self.calls if c.method == "GET" and c.path.endswith("/orders")]

    def claim_codes(self) -> list[str]:
        return [o["reward"]["credentials"]["Claim Code"] for o in self.orders.values()]

    # ------------------------------------------------------------------ the server

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self.lock:
            self.calls.append(Call(method, parts.path, parse_qs(parts.query), body))
            expected = "Basic " + base64.b64encode(":".join(PLATFORM).encode()).decode()
            if handler.headers.get("Authorization") != expected:
                return self._answer(handler, 401, {"message": "Unauthorized"})
            if not parts.path.startswith("/raas/v2/orders"):
                return self._answer(handler, 404, {"message": "no route"})
            if method == "POST":
                return self._post(handler, body or {})
            reference = parts.path.removeprefix("/raas/v2/orders").strip("/")
            if reference:
                found = [o for o in self.orders.values() if o["referenceOrderID"] == reference]
                if not found:
                    return self._answer(handler, 404, {"message": "order not found"})
                return self._answer(handler, 200, found[0])
            ref = parse_qs(parts.query).get("externalRefID", [None])[0]
            listed = [_list_item(o) for r, o in self.orders.items() if ref is None or r == ref]
            page = {
                "number": 0,
                "elementsPerBlock": 10,
                "resultCount": len(listed),
                "totalCount": len(listed),
            }
            return self._answer(handler, 200, {"orders": listed, "page": page})

    def _post(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        missing = [name for name in REQUIRED if name not in body]
        if missing:
            errors = [{"path": name, "message": "may not be null"} for name in missing]
            return self._answer(handler, 400, {"message": "Bad Request", "errors": errors})
        fault = self.faults.pop(0) if self.faults else None
        if self.refuse_with == 402 or fault == "402":
            return self._answer(
                handler,
                402,
                {"httpCode": 402, "message": "Insufficient funds in account", "i18nKey": "ORDER.FUNDS"},
            )
        if fault == "429":
            return self._answer(handler, 429, {"message": "Too Many Requests"})
        if fault == "500":
            return self._answer(handler, 500, {"message": "Internal Server Error"})
        ref = body.get("externalRefID")
        existing = self.orders.get(ref) if ref else None
        order = existing or self._create(body)
        if fault == "created_then_500":
            return self._answer(handler, 500, {"message": "Internal Server Error"})
        if fault == "created_then_dropped":
            handler.close_connection = True
            return None
        return self._answer(handler, 200 if existing else 201, order)

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        reference = f"RA{len(self.orders) + 1:06d}-{uuid.uuid4().hex[:6]}"
        token = uuid.uuid4().hex
        link = f"https://sandbox.rewardlink.io/r/1/{token}"
        claim = "CLAIM-" + uuid.uuid4().hex[:12].upper()
        money = {"value": body["amount"], "currencyCode": "USD", "total": body["amount"], "fee": 0}
        order = {
            "referenceOrderID": reference,
            "externalRefID": body.get("externalRefID", ""),
            "accountIdentifier": body["accountIdentifier"],
            "customerIdentifier": body["customerIdentifier"],
            "utid": body["utid"],
            "amountCharged": money,
            "denomination": money,
            "rewardName": "Reward Link",
            "sendEmail": body["sendEmail"],
            "status": "COMPLETE",
            "createdAt": "2026-11-23T23:00:00.000Z",
            "reward": {
                "credentials": {"Redemption Link": f'<a href="{link}">{link}</a>', "Claim Code": claim},
                "credentialList": [
                    {"label": "Redemption Link", "value": link, "type": "url", "credentialType": "link"},
                    {"label": "Claim Code", "value": claim, "type": "text", "credentialType": "code"},
                ],
                "redemptionInstructions": "Open the link.",
            },
        }
        if body.get("externalRefID"):
            self.orders[body["externalRefID"]] = order
        else:
            self.orders[reference] = order
        return order

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        try:
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _list_item(order: dict[str, Any]) -> dict[str, Any]:
    """`GET /orders` lists orders without their reward (OrderListItemView)."""
    return {k: v for k, v in order.items() if k != "reward"}
