"""A recording stand-in for Twilio's REST API, as its own process: where the benchmarks measure first contact.

It answers what `providers/phone/twilio.LiveTwilio` asks of Twilio (create a message or a call, list one
page of them by To and From) the way Twilio documents it, and appends one JSON line per message or call
created to the record file, stamped with the wall clock the moment the request arrived, so a benchmark can
match each event it posted to the first text its patient got, measured outside the system.

python bench/twilio_standin.py --port 8765 --record var/twilio.jsonl
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Book:
    def __init__(self, record_path: str) -> None:
        self.lock = threading.Lock()
        self.sent: list[dict[str, Any]] = []
        self.record = open(record_path, "a", buffering=1)  # one line at a time, flushed

    def create(self, kind: str, account: str, form: dict[str, str], arrived: float) -> dict[str, Any]:
        prefix = "SM" if kind == "Messages" else "CA"
        resource = {
            "sid": prefix + uuid.uuid4().hex,
            "account_sid": account,
            "to": form.get("To"),
            "from": form.get("From"),
            "status": "queued",
            "date_created": formatdate(arrived, usegmt=True).replace("GMT", "+0000"),
            "date_updated": formatdate(arrived, usegmt=True).replace("GMT", "+0000"),
            "direction": "outbound-api",
            "uri": f"/2010-04-01/Accounts/{account}/{kind}/{prefix}.json",
        }
        if kind == "Messages":
            resource.update(body=form.get("Body", ""), num_segments="1", num_media="0", price=None)
        with self.lock:
            self.sent.append(resource)
            line = {"t": arrived, "kind": "sms" if kind == "Messages" else "call", "to": form.get("To")}
            if kind == "Messages":
                line["body"] = form.get("Body", "")
            self.record.write(json.dumps(line) + "\n")
        return resource

    def page(self, kind: str, account: str, query: dict[str, str]) -> dict[str, Any]:
        prefix = "SM" if kind == "Messages" else "CA"
        with self.lock:
            found = [
                r
                for r in reversed(self.sent)
                if r["sid"].startswith(prefix)
                and r["to"] == query.get("To", r["to"])
                and r["from"] == query.get("From", r["from"])
            ][: int(query.get("PageSize", "50"))]
        return {
            kind.lower(): found,
            "page": 0,
            "page_size": len(found),
            "first_page_uri": f"/2010-04-01/Accounts/{account}/{kind}.json",
            "next_page_uri": None,
            "previous_page_uri": None,
            "uri": f"/2010-04-01/Accounts/{account}/{kind}.json",
        }


def serve(port: int, book: Book) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _route(self) -> tuple[str, str] | None:
            parts = urlsplit(self.path).path.strip("/").split("/")
            # 2010-04-01 / Accounts / {sid} / {Messages|Calls}.json
            if len(parts) == 4 and parts[1] == "Accounts" and parts[3] in ("Messages.json", "Calls.json"):
                return parts[2], parts[3].removesuffix(".json")
            return None

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            arrived = time.time()
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            route = self._route()
            if route is None:
                self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                return
            self._answer(201, book.create(route[1], route[0], form, arrived))

        def do_GET(self) -> None:
            route = self._route()
            if route is None:
                self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                return
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            self._answer(200, book.page(route[1], route[0], query))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", required=True, help="JSON lines: one per message or call created")
    args = parser.parse_args()
    serve(args.port, Book(args.record)).serve_forever()


if __name__ == "__main__":
    main()
