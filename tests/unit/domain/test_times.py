"""One timestamp parser: exactly the schemas' `date-time` under AJV, kept to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.times import (
    TimestampError,
    format_timestamp,
    is_date_time,
    parse_timestamp,
    parse_timestamp_fully,
    timestamp_or_none,
)

T = datetime(2026, 7, 17, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07-17T10:00:00Z", T),
        ("2026-07-17t10:00:00z", T),
        ("2026-07-17 10:00:00Z", T),
        ("2026-07-17\u00a010:00:00Z", T),  # AJV's `\s` is JavaScript's whitespace class
        ("2026-07-17T12:00:00+02:00", T),
        ("2026-07-17T12:00:00+0200", T),
        ("2026-07-17T12:00:00+02", T),
        ("2026-07-17T09:30:00-00:30", T),
        ("2026-07-17T10:00:00.123456789Z", T + timedelta(microseconds=123456)),
        ("2026-12-31T23:59:60Z", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2027-01-01T00:59:60+01:00", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_accepts_what_the_schema_date_time_accepts(text: str, expected: datetime) -> None:
    assert is_date_time(text)
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-07-17T10:00:00",  # no offset
        "2026-07-17",
        "2026-02-30T10:00:00Z",
        "2026-07-17T24:00:00Z",
        "2026-07-17T10:00:60Z",  # a leap second that is not 23:59:60 UTC
        "2026-07-17T10:00:00+24:00",
        "2026-07-17T10:00:00Z\n",
        "2026-07-17TT10:00:00Z",
        " 2026-07-17T10:00:00Z",
        "２０２６-07-17T10:00:00Z",  # non-ASCII digits
        "",
    ],
)
def test_refuses_what_the_schema_date_time_refuses(text: str) -> None:
    assert not is_date_time(text)
    with pytest.raises(TimestampError):
        parse_timestamp(text)


@pytest.mark.parametrize("value", [None, 17, 1.5, [], {}, b"2026-07-17T10:00:00Z"])
def test_a_non_string_is_a_400_not_a_crash(value: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_timestamp(value)
    assert timestamp_or_none(value) is None


@pytest.mark.parametrize("text", ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00"])
def test_valid_but_unrepresentable_instants_are_refused_cleanly(text: str) -> None:
    assert is_date_time(text)
    with pytest.raises(TimestampError):
        parse_timestamp(text)


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_what_the_node_emits_parses_back_to_the_same_instant(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert parse_timestamp(format_timestamp(aware)) == aware


@given(st.text(alphabet="0123456789-:.TtZz+ \u00a0", max_size=30))
def test_parsing_succeeds_only_where_the_format_check_passes(text: str) -> None:
    parsed = timestamp_or_none(text)
    if parsed is not None:
        assert is_date_time(text)
        assert parsed.tzinfo is UTC


# `parse_timestamp`'s shortcut (`datetime.fromisoformat` for the common form) against the full
# ajv-formats parse, on strings of that form that are right, wrong in the calendar or out of
# range after their offset: the same instant, or the same refusal.
_COMMON_FORM = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{}".format,
    st.integers(0, 9999),
    st.integers(1, 12),
    st.integers(1, 31),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.one_of(st.just(""), st.from_regex(r"\.\d{1,6}", fullmatch=True)),
    st.one_of(
        st.just("Z"),
        st.builds(
            "{}{:02d}:{:02d}".format, st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)
        ),
    ),
)


def _outcome(parse: object, text: str) -> object:
    try:
        return parse(text)  # type: ignore[operator]
    except TimestampError as exc:
        return ("refused", str(exc))


@given(_COMMON_FORM)
def test_the_shortcut_reads_the_common_form_as_the_full_parse_does(text: str) -> None:
    fast, full = _outcome(parse_timestamp, text), _outcome(parse_timestamp_fully, text)
    assert fast == full
    if isinstance(fast, datetime):
        assert fast.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-29T10:00:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:30:00-01:00",
        "2026-04-31T00:00:00Z",
    ],
)
def test_the_shortcut_leaves_an_impossible_instant_to_the_full_parse(text: str) -> None:
    with pytest.raises(TimestampError) as refused:
        parse_timestamp(text)
    with pytest.raises(TimestampError) as fully:
        parse_timestamp_fully(text)
    assert str(refused.value) == str(fully.value)
