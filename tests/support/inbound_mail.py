"""A patient's email as SendGrid Inbound Parse posts it to `POST /webhooks/sendgrid/inbound`: multipart form
fields (from, to, subject, text, headers, and `envelope` and `charsets` as JSON), with HTTP Basic auth whose
password is SENDGRID_INBOUND_TOKEN. For tests that write in as a patient over real HTTP."""

from __future__ import annotations

import json

import httpx

PATH = "/webhooks/sendgrid/inbound"


def parse_form(
    sender: str, to: str, subject: str, text: str, message_id: str, name: str = "Ada Jansen"
) -> dict[str, str]:
    """The fields Inbound Parse posts for one plain-text email from `sender` to `to`."""
    return {
        "from": f"{name} <{sender}>",
        "to": to,
        "subject": subject,
        "text": text,
        "headers": f"Message-ID: {message_id}\nFrom: {sender}\n",
        "envelope": json.dumps({"to": [to], "from": sender}),
        "charsets": json.dumps({"to": "UTF-8", "subject": "UTF-8", "text": "UTF-8", "from": "UTF-8"}),
    }


def multipart(fields: dict[str, str]) -> dict[str, tuple[None, str]]:
    """As httpx sends form fields multipart (no file names), the way SendGrid posts them."""
    return {name: (None, value) for name, value in fields.items()}


def post(base_url: str, token: str, fields: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{base_url}{PATH}", files=multipart(fields), auth=("sendgrid", token), timeout=30)
