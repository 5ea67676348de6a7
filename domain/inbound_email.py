"""A patient's email, as SendGrid Inbound Parse hands it over: the Reply-To address that names a case, the
new text of a reply (quoted history and signature removed, HTML stripped), and the mail that must never be
answered (auto-replies, bounces). Pure: no store, no web."""

from __future__ import annotations

import html
import re
import secrets
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr

# a reply's new text is at the top: this much of the body is read (the reply parser's patterns are
# regular expressions, and a hostile body must not make them run for long)
MAX_TEXT_CHARS = 20_000
# what is kept of the new text and the subject
MAX_KEPT_TEXT = 4_000
MAX_SUBJECT = 300

_TOKEN = re.compile(r"^[a-z0-9]{8,40}$")


def new_token() -> str:
    """A case's email token: random, lower-case (mail systems may fold the local part's case), no
    patient data."""
    return secrets.token_hex(10)


WORK_PREFIX = "email-"


def work_id_of(email_id: str) -> str:
    """The router's id of the work an email that needs a person is (`email-<email_id>`)."""
    return f"{WORK_PREFIX}{email_id}"


def email_id_of(work_id: str | None) -> str | None:
    """The email an `email-…` work id names, else None."""
    if work_id and work_id.startswith(WORK_PREFIX) and len(work_id) > len(WORK_PREFIX):
        return work_id.removeprefix(WORK_PREFIX)
    return None


def reply_address(inbound: str, token: str) -> str:
    """`care@reply.example.com` + token → `care+<token>@reply.example.com` (plus-addressing)."""
    local, _, domain = inbound.strip().rpartition("@")
    return f"{local}+{token}@{domain}"


def addresses(*fields: str) -> list[str]:
    """Every address in these header values (`To`, `Cc`), lower-cased."""
    return [addr.strip().lower() for _, addr in getaddresses(list(fields)) if "@" in addr]


def token_in(candidates: list[str], inbound: str) -> str | None:
    """The case token of the first candidate address that is the inbound address plus a token."""
    local, _, domain = inbound.strip().lower().rpartition("@")
    if not local or not domain:
        return None
    for address in candidates:
        their_local, _, their_domain = address.strip().lower().rpartition("@")
        base, plus, token = their_local.partition("+")
        if plus and base == local and their_domain == domain and _TOKEN.match(token):
            return token
    return None


def sender(from_field: str) -> str | None:
    """The sender's address from a `From` value (`Ann <ann@example.com>`), lower-cased; None if none."""
    _, address = parseaddr(from_field)
    address = address.strip().lower()
    return address if "@" in address and len(address) <= 254 else None


def header_map(raw_headers: str) -> dict[str, str]:
    """The mail's headers (SendGrid's `headers` field: the raw header block), names lower-cased; a
    repeated header keeps its first value."""
    parsed = HeaderParser().parsestr(raw_headers or "", headersonly=True)
    found: dict[str, str] = {}
    for name, value in parsed.items():
        found.setdefault(name.lower(), str(value).strip())
    return found


_BULK = {"bulk", "auto_reply", "list", "junk"}
_DAEMONS = ("mailer-daemon@", "postmaster@", "mail-daemon@", "noreply-dmarc-support@")


def automatic(headers: dict[str, str], from_address: str | None) -> str | None:
    """Why this mail was sent by a machine (an auto-reply, a bounce, a list), or None for a person's mail.
    Such mail is recorded and never answered: an auto-answer to an auto-answer cannot happen (RFC 3834)."""
    submitted = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted[:40]}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in headers:
            return f"{name}: present"
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in _BULK:
        return f"Precedence: {precedence}"
    if from_address and from_address.startswith(_DAEMONS):
        return "from a mailer daemon (a bounce)"
    content_type = headers.get("content-type", "").lower()
    if "multipart/report" in content_type and "delivery-status" in content_type:
        return "a delivery status report (a bounce)"
    if not from_address and headers.get("return-path", "").strip() == "<>":
        return "empty Return-Path (a bounce)"
    return None


_BLOCKS = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h[1-6]|/blockquote|p|div|blockquote)\b[^>]*>", re.IGNORECASE)


def html_text(markup: str) -> str:
    """Text of an HTML mail, safely: line breaks where blocks end, every tag removed by a sanitiser
    (nh3: script and style dropped with their content), entities decoded once."""
    import nh3

    marked = _BLOCKS.sub("\n", markup[: MAX_TEXT_CHARS * 4])
    cleaned = nh3.clean(marked, tags=set(), clean_content_tags={"script", "style", "head", "title"})
    return html.unescape(cleaned)


_QUOTED = re.compile(r"^\s*>")


def new_text(text: str, markup: str = "") -> str:
    """The new part of a reply: the plain text (or the HTML's text when there is none), with the quoted
    history (`On … wrote:`, `Op … schreef:`, Outlook's From/Sent block, `>` lines) and the signature
    removed, by mail-parser-reply (English and Dutch)."""
    from mailparser_reply.parser import EmailMessage

    body = text if text.strip() else html_text(markup) if markup.strip() else ""
    body = body[:MAX_TEXT_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    try:
        message = EmailMessage(text=body, languages=["en", "nl"], keep_hyphen_lists=True).read()
        latest = message.replies[0].body if message.replies else body
    except Exception:  # the library failing on some odd body: the text as it came, its quoted lines gone
        latest = body
    lines = [line for line in latest.split("\n") if not _QUOTED.match(line)]
    kept = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", kept)[:MAX_KEPT_TEXT]


def first_words(text: str) -> str:
    """What is understood of the new text (domain.replies): its first non-empty line, as a text message
    would be (`1`, `STOP`, `call me please`)."""
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def reply_subject(subject: str) -> str:
    subject = " ".join(subject.split())[: MAX_SUBJECT - 4]
    return subject if subject.lower().startswith(("re:", "aw:", "antw:")) else f"Re: {subject}".strip()
