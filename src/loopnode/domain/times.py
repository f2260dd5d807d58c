"""Timestamps as the protocol writes them, and as the node stores them: one parser, one contract.

Contract (DECISIONS 3, SPEC-DIGEST §4.13): `parse_timestamp` accepts exactly the strings the
schemas' `date-time` format accepts under the upstream validator (AJV 8 + ajv-formats 3, full
mode), and nothing else: one separator between date and time (`T`, `t` or any ECMAScript
whitespace), a calendar-checked date, a required offset (`Z`, `z`, `+01`, `+0100`, `+01:00`), and
a leap second `:60` only where it is 23:59:60 in UTC. Fractions are kept to the microsecond; a
leap second is read as the same fraction of second :59, the nearest real instant. The few
strings AJV accepts that no Python datetime can hold (year 0, instants past 9999 after the offset)
are refused too. Everything else raises `TimestampError`, an `InvalidRequest` (400).

`is_date`, `is_time` and `is_date_time` are the format checks themselves (ported from
ajv-formats' `formats.js`); `protocol/formats.py` uses them, so the AJV differential tests cover
this parser. Emitters are strict RFC 3339 UTC with `Z`. Storage uses integer microseconds since the
epoch.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from loopnode.domain.errors import InvalidRequest

# ECMAScript `\s` (WhiteSpace and LineTerminator, ECMA-262 §12.2-12.3) as regex class content.
JS_WHITESPACE = (
    "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
)
# ajv-formats' regexes, with JS's `$` (end of input only) as `\Z`, `\d` ASCII, `i` ASCII-only.
_DATE = re.compile(r"^(\d\d\d\d)-(\d\d)-(\d\d)\Z", re.ASCII)
_TIME = re.compile(
    r"^(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|([+-])(\d\d)(?::?(\d\d))?)?\Z", re.ASCII | re.IGNORECASE
)
_SEPARATOR = re.compile(f"[tT{JS_WHITESPACE}]")
_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TimestampError(InvalidRequest):
    """The text is not a date-time the protocol accepts (the sender broke the rules: 400)."""


def is_date(text: str) -> bool:
    """ajv-formats `date`: `YYYY-MM-DD` naming a real calendar day (Gregorian leap years)."""
    match = _DATE.match(text)
    if match is None:
        return False
    year, month, day = (int(group) for group in match.groups())
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 1 <= month <= 12 and 1 <= day <= (29 if month == 2 and leap else _DAYS[month])


def is_time(text: str) -> bool:
    """ajv-formats `time` with a required offset, including its leap-second arithmetic."""
    match = _TIME.match(text)
    if match is None or match.group(4) is None:
        return False
    hour, minute, second = int(match.group(1)), int(match.group(2)), float(match.group(3))
    sign = -1 if match.group(5) == "-" else 1
    offset_hours, offset_minutes = int(match.group(6) or 0), int(match.group(7) or 0)
    if offset_hours > 23 or offset_minutes > 59:
        return False
    if hour <= 23 and minute <= 59 and second < 60:
        return True
    # As upstream: a value past 23:59:59 passes when it is 23:59 UTC once the offset is removed.
    utc_minute = minute - offset_minutes * sign
    utc_hour = hour - offset_hours * sign - (1 if utc_minute < 0 else 0)
    return utc_hour in (23, -1) and utc_minute in (59, -1) and second < 61


def is_date_time(text: str) -> bool:
    """ajv-formats `date-time`: exactly one separator (`T`, `t` or whitespace), a date, a time."""
    parts = _SEPARATOR.split(text)
    return len(parts) == 2 and is_date(parts[0]) and is_time(parts[1])


# The form emitters write: `T`, seconds below 60, at most six fraction digits, `Z` or ±HH:MM.
# `datetime.fromisoformat` reads such a string to the instant the full check below computes
# (pinned by a property test), for a fifth of its cost; a registration parses two timestamps.
_COMMON = re.compile(
    r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z",
    re.ASCII,
)


def parse_timestamp(text: object) -> datetime:
    """The aware UTC instant of a received `date-time`; `TimestampError` for anything else."""
    if type(text) is str and _COMMON.match(text):
        try:
            return datetime.fromisoformat(text).astimezone(UTC)
        except (ValueError, OverflowError):
            pass  # a day the calendar lacks, year 0, or past year 9999: the full check says so
    return parse_timestamp_fully(text)


def parse_timestamp_fully(text: object) -> datetime:
    """`parse_timestamp` without its shortcut: the ajv-formats checks, then the arithmetic."""
    if not isinstance(text, str) or not is_date_time(text):
        raise TimestampError(f"not an RFC 3339 date-time with a time zone: {text!r:.80}")
    day_text, time_text = _SEPARATOR.split(text)
    match = _TIME.match(time_text)
    assert match is not None  # is_date_time checked it
    whole, _, fraction = match.group(3).partition(".")
    sign = -1 if match.group(5) == "-" else 1
    local = timedelta(
        hours=int(match.group(1)),
        minutes=int(match.group(2)),
        seconds=min(int(whole), 59),
        microseconds=int(fraction[:6].ljust(6, "0")),
    )
    offset = sign * timedelta(hours=int(match.group(6) or 0), minutes=int(match.group(7) or 0))
    try:
        midnight = datetime.combine(date.fromisoformat(day_text), datetime.min.time(), UTC)
        return midnight + local - offset
    except (ValueError, OverflowError) as exc:
        raise TimestampError(f"not a representable date-time: {text!r:.80}") from exc


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, exact."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def format_timestamp(moment: datetime) -> str:
    """Strict RFC 3339 in UTC with `Z`; a fraction only when the instant has one."""
    moment = moment.astimezone(UTC)
    fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return f"{moment.year:04d}-{moment.strftime('%m-%dT%H:%M:%S')}{fraction}Z"


def format_utc(moment: datetime) -> str:
    """`2026-07-17T00:00:00Z`: UTC, whole seconds (truncated); what signed messages carry."""
    if moment.tzinfo is None:
        raise InvalidRequest("timestamps must be timezone-aware")
    return format_timestamp(moment.replace(microsecond=0))


def timestamp_or_none(text: object) -> datetime | None:
    """`parse_timestamp` for rules that treat an unreadable time as unknown (JS's NaN): None."""
    try:
        return parse_timestamp(text)
    except TimestampError:
        return None
