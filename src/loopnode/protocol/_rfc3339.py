"""RFC 3339 timestamps: strict on emit, lenient on receive (DECISIONS 3, SPEC-DIGEST §4.13 #3).

We emit only `YYYY-MM-DDTHH:MM:SSZ`. We read what the schemas' `date-time` format accepts and
a JS `Date.parse` understands: `T`, `t` or a space between date and time, optional fractional
seconds (kept to the millisecond, as JS does), and `Z`, `z`, `±hh:mm` or `±hhmm`. Leap seconds
and hour-only offsets pass ajv-formats but give NaN in JS, so they do not parse here either.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))\Z"
)


def format_utc(moment: datetime) -> str:
    """`2026-07-17T00:00:00Z`: UTC, whole seconds (truncated)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: object) -> datetime | None:
    """An aware UTC datetime, or None when `text` is not a timestamp we accept."""
    match = _RE.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    millis = int((match.group(7) or "0")[:3].ljust(3, "0"))
    try:
        tz = UTC if match.group(8) else _offset(match.group(9), match.group(10), match.group(11))
        moment = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=tz)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _offset(sign: str, hours: str, minutes: str) -> timezone:
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError("offset out of range")
    return timezone(-delta if sign == "-" else delta)
