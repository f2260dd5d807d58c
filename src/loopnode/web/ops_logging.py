"""Structured logs: one JSON object per line, each carrying the request id it belongs to.

`request_id` is a context variable set by `RequestContextMiddleware` for the duration of a
request; it follows the request into the threadpool (anyio copies the context), so a service's
log line or an unexpected error names the request that caused it.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

request_id: ContextVar[str | None] = ContextVar("loopnode_request_id", default=None)
_INSTALLED = "_loopnode_handler"


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", ...fields, "exception"?}`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def _stamp_request_ids() -> None:
    """Give every log record the request id current where it was created (any handler)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, _INSTALLED, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = request_id.get()
        return record

    setattr(factory, _INSTALLED, True)
    logging.setLogRecordFactory(factory)


_stamp_request_ids()


class RequestIdFilter(logging.Filter):
    """Stamp each record with the request id current where it was logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


def configure_logging(log_format: str, *, access_log: bool) -> None:
    """Send the node's logs to stderr, as JSON lines unless `log_format` is "text"."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _INSTALLED, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _INSTALLED, True)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("loopnode").setLevel(logging.INFO if access_log else logging.WARNING)
