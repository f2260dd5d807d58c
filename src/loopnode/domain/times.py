"""Timestamps as the protocol writes them, and as the node stores them.

Receivers are lenient where the upstream validator is (a space or lowercase `t` between date
and time, `+01`/`+0100` offsets, a leap second `:60`); emitters are strict RFC 3339 UTC with `Z`
(DECISIONS 3). Storage uses integer microseconds since the epoch.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_TIMESTAMP = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]"
    r"(?P<h>[0-9]{2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})(?P<frac>\.[0-9]+)?"
    r"(?P<tz>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?",
    re.ASCII,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TimestampError(ValueError):
    """The text is not a date-time the protocol accepts."""


def parse_timestamp(text: str) -> datetime:
    """Parse a received date-time into an aware UTC datetime."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None or match["tz"] is None:
        raise TimestampError(f"not an RFC 3339 date-time with a time zone: {text!r}")
    second = min(int(match["s"]), 59)  # a leap second is kept as :59, the nearest real instant
    frac = (match["frac"] or ".0")[1:7].ljust(6, "0")
    try:
        naive = datetime.fromisoformat(match["date"]).replace(
            hour=int(match["h"]), minute=int(match["m"]), second=second, microsecond=int(frac)
        )
    except ValueError as exc:
        raise TimestampError(f"not a calendar date-time: {text!r}") from exc
    return naive.replace(tzinfo=UTC) - _offset(match["tz"])


def _offset(tz: str) -> timedelta:
    if tz in ("Z", "z"):
        return timedelta(0)
    sign = 1 if tz[0] == "+" else -1
    digits = tz[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
    return sign * timedelta(minutes=minutes)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, exact."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def format_timestamp(moment: datetime) -> str:
    """Strict RFC 3339 in UTC with `Z`; a fraction only when the instant has one."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
