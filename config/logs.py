"""Logging for every process: text lines, or JSON lines with LOG_FORMAT=json, and in both a filter on the
handlers that scrubs every record (its message, its arguments, an exception's text): lines cut at 8 KB,
secrets in URLs redacted (the codec's `/codec/t/<token>/…`, `?token=`, `?t=` and the like: uvicorn's access
log writes every request's path and query), phone numbers and email addresses masked. So nothing depends on
each call site remembering to do it."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from domain.masking import scrub_log_line

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# loggers that keep handlers of their own (uvicorn's): they get the filter and the format too
OWN_HANDLER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# audit lines (who read what) are INFO, and must be written whatever the root's level: a web process
# leaves the root at Python's WARNING (uvicorn --log-level warning), which would drop them
AUDIT_LOGGERS = ("makeright.codec",)
# what every LogRecord has; anything else on a record came in through `extra=` and is written out in JSON
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


# loggers whose format needs its arguments as they came (uvicorn's AccessFormatter unpacks
# `(client_addr, method, full_path, http_version, status_code)`): each argument is scrubbed in place
ARGUMENTS_KEPT = ("uvicorn.access",)
# a traceback may run longer than a line, and is cut later
MAX_TRACEBACK = 64 * 1024


class ScrubLogRecord(logging.Filter):
    """Renders the record's message with its arguments, scrubs it (`domain.masking.scrub_log_line`), and
    keeps the scrubbed text (arguments dropped), so every handler and formatter after it sees no secret,
    phone number or email address. An access log line keeps its arguments, each scrubbed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in ARGUMENTS_KEPT and isinstance(record.args, tuple):
            record.args = tuple(scrub_log_line(a) if isinstance(a, str) else a for a in record.args)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a broken format string: let the handler report it as it always does
                return True
            record.msg = scrub_log_line(message)
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_log_line(record.exc_text, MAX_TRACEBACK)
        if record.stack_info:
            record.stack_info = scrub_log_line(record.stack_info, MAX_TRACEBACK)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, scrub_log_line(value))
        return True


# the name it had when it masked only contact details
MaskContactDetails = ScrubLogRecord


class JsonLines(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and `exception` and any
    `extra=` fields when there are some."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in line:
                line[name] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (as logging's last resort does)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _OurHandler(_Stderr):
    """The root handler `configure` installs (once per process)."""


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def install_masking(handlers: list[logging.Handler] | None = None) -> None:
    """The scrubbing filter on every root handler (and uvicorn's own), once each."""
    targets = list(handlers) if handlers is not None else _all_handlers()
    for handler in targets:
        if not any(isinstance(f, ScrubLogRecord) for f in handler.filters):
            handler.addFilter(ScrubLogRecord())


def _all_handlers() -> list[logging.Handler]:
    found = list(logging.getLogger().handlers)
    for name in OWN_HANDLER_LOGGERS:
        found += logging.getLogger(name).handlers
    return found


def configure(log_format: str = "text", level: int | None = logging.INFO) -> None:
    """Root logging for a process: one stderr handler in the chosen format (added once however often this
    is called), uvicorn's handlers in the same format, and the scrubbing filter on all of them. `level`:
    the root's level (None: leave it as it is)."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _OurHandler)]
    handler = ours[0] if ours else _OurHandler()
    handler.setFormatter(formatter_for(log_format))
    if not ours:
        root.addHandler(handler)
    if level is not None:
        root.setLevel(level)
    for name in OWN_HANDLER_LOGGERS:
        for own in logging.getLogger(name).handlers:
            if log_format == "json":
                own.setFormatter(JsonLines())
    # the Twilio SDK logs request details (numbers, message text) at INFO: masked now, but noise
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    for name in AUDIT_LOGGERS:
        audit = logging.getLogger(name)
        if audit.level == logging.NOTSET or audit.level > logging.INFO:
            audit.setLevel(logging.INFO)
    install_masking()
