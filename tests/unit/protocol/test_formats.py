"""The format checks and pattern semantics, on named edge cases.

Each expected verdict is AJV's (ajv-formats 3 full mode; checked against the oracle by
`test_named_cases_agree_with_ajv` when Node is available).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from loopnode.protocol import formats
from loopnode.protocol.formats import (
    CALENDAR_FAST_PATTERNS,
    JsonString,
    ecma_to_python,
    ecma_to_rust,
    is_date,
    is_date_time,
    is_email,
    is_uri,
    is_uuid,
)
from tests.reference import unavailable

from . import seeds
from .conftest import PROJECT_ROOT

DATE_TIMES = {
    "basic UTC": ("2025-05-27T10:00:00Z", True),
    "space separator": ("2025-05-27 10:00:00Z", True),
    "lowercase t and z": ("2025-05-27t10:00:00z", True),
    "hour-only offset": ("2025-05-27T10:00:00+01", True),
    "colon-less offset": ("2025-05-27T10:00:00+0100", True),
    "colon offset": ("2025-05-27T10:00:00+01:00", True),
    "fraction of any length": ("2025-05-27T10:00:00.123456789Z", True),
    "leap second at 23:59 UTC": ("2025-05-27T23:59:60Z", True),
    "leap second at 23:59 UTC via negative offset": ("2025-05-27T22:59:60-01:00", True),
    "leap second at 23:59 UTC via positive offset": ("2025-05-27T00:59:60+01:00", True),
    "leap second with minute offset": ("2025-05-27T00:00:60+00:01", True),
    "leap second not at 23:59 UTC": ("2025-05-27T23:59:60+01:00", False),
    "second 61": ("2025-05-27T00:00:61+00:01", False),
    "hour 24 that is 23:59 UTC (upstream quirk)": ("2025-05-27T24:59:30+01:00", True),
    "29 February in a leap year": ("2024-02-29T10:00:00Z", True),
    "29 February 2000": ("2000-02-29T10:00:00Z", True),
    "29 February in a common year": ("2025-02-29T10:00:00Z", False),
    "29 February 1900": ("1900-02-29T10:00:00Z", False),
    "30 February": ("2025-02-30T10:00:00Z", False),
    "month 13": ("2025-13-01T10:00:00Z", False),
    "no-break space separator": ("2025-05-27\u00a010:00:00Z", True),
    "BOM separator (JS whitespace)": ("2025-05-27\ufeff10:00:00Z", True),
    "tab separator": ("2025-05-27\t10:00:00Z", True),
    "line separator U+2028": ("2025-05-27\u202810:00:00Z", True),
    "NEL is not JS whitespace": ("2025-05-27\u008510:00:00Z", False),
    "U+180E is not JS whitespace": ("2025-05-27\u180e10:00:00Z", False),
    "file separator is not JS whitespace": ("2025-05-27\x1c10:00:00Z", False),
    "two separators": ("2025-05-27TT10:00:00Z", False),
    "space before Z": ("2025-05-27 10:00:00 Z", False),
    "missing offset": ("2025-05-27T10:00:00", False),
    "trailing newline": ("2025-05-27T10:00:00Z\n", False),
    "offset hour 24": ("2025-05-27T10:00:00+24:00", False),
    "offset minute 60": ("2025-05-27T10:00:00+23:60", False),
    "minute 60": ("2025-05-27T10:60:00Z", False),
    "fraction rounding up to 60 s": ("2025-05-27T10:00:59.99999999999999999999Z", False),
    "empty fraction": ("2025-05-27T10:00:00.Z", False),
    "Arabic-Indic digits": ("٢٠٢٥-05-27T10:00:00Z", False),
    "date only": ("2025-05-27", False),
}

DATES = {
    "plain": ("2025-05-27", True),
    "leap day": ("2024-02-29", True),
    "leap day 2000": ("2000-02-29", True),
    "year zero": ("0000-01-01", True),
    "common-year 29 February": ("2025-02-29", False),
    "1900 leap day": ("1900-02-29", False),
    "31 April": ("2025-04-31", False),
    "month 0": ("2025-00-10", False),
    "month 13": ("2025-13-01", False),
    "one-digit month": ("2025-5-27", False),
    "trailing newline": ("2025-05-27\n", False),
    "date-time": ("2025-05-27T00:00:00Z", False),
    "Arabic-Indic digits": ("٢٠٢٥-05-27", False),
}

URIS = {
    "https": ("https://example.com", True),
    "upper-case scheme and host": ("HTTPS://X", True),
    "urn": ("urn:isbn:0451450523", True),
    "urn uuid": ("urn:uuid:x", True),
    "mailto": ("mailto:a@b", True),
    "did": ("did:web:example.com", True),
    "tel": ("tel:+49-89-0", True),
    "file": ("file:///x", True),
    "scheme and path only": ("a:b", True),
    "IPv6 host": ("https://[2001:db8::1]:8443/x", True),
    "IPv4-mapped IPv6": ("https://[::ffff:1.2.3.4]/", True),
    "IPvFuture": ("https://[v1.x]/", True),
    "user info": ("https://user:pw@x/", True),
    "percent escape": ("https://x/%41", True),
    "no scheme": ("example.com", False),
    "network-path reference": ("//x", False),
    "absolute path": ("/relative", False),
    "empty after scheme": ("h:", False),
    "scheme starting with a digit": ("1http://x", False),
    "space in host": ("https://exa mple.com", False),
    "space in path": ("https://x/a b", False),
    "non-ASCII host": ("https://例え.jp", False),
    "non-ASCII path": ("https://x/\u00e4", False),
    "Kelvin sign does not fold to k": ("https://\u212aelvin.com", False),
    "long s does not fold to s": ("\u017f:x", False),
    "bad percent escape": ("https://x/%zz", False),
    "angle brackets": ("https://x?a=<b>", False),
    "second hash": ("https://x#f#g", False),
    "backslash": ("https://x/a\\b", False),
    "braces": ("https://x/{a}", False),
    "trailing newline": ("https://example.com/\n", False),
}

UUIDS = {
    "lower case": ("550e8400-e29b-41d4-a716-446655440000", True),
    "upper case": ("550E8400-E29B-41D4-A716-446655440000", True),
    "urn prefix": ("urn:uuid:550e8400-e29b-41d4-a716-446655440000", True),
    "upper-case urn prefix": ("URN:UUID:550e8400-e29b-41d4-a716-446655440000", True),
    "nil": ("00000000-0000-0000-0000-000000000000", True),
    "braces": ("{550e8400-e29b-41d4-a716-446655440000}", False),
    "no hyphens": ("550e8400e29b41d4a716446655440000", False),
    "non-hex digit": ("550e8400-e29b-41d4-a716-44665544000g", False),
    "trailing newline": ("550e8400-e29b-41d4-a716-446655440000\n", False),
}

EMAILS = {
    "plain": ("ops@munich.example", True),
    "upper case": ("OPS@MUNICH.EXAMPLE", True),
    "dot in local part": ("o.ps@munich.example", True),
    "plus tag": ("ops+tag@munich.example", True),
    "no dot in domain": ("ops@munich", False),
    "double dot": ("o..ps@munich.example", False),
    "leading dot": (".ops@munich.example", False),
    "hyphen-led label": ("ops@-munich.example", False),
    "empty label": ("ops@munich..example", False),
    "non-ASCII": ("öps@munich.example", False),
    "quoted local part": ('"o p"@munich.example', False),
    "address literal": ("ops@[1.2.3.4]", False),
    "trailing newline": ("ops@munich.example\n", False),
}

CHECKS = {
    "date-time": is_date_time,
    "date": is_date,
    "uri": is_uri,
    "uuid": is_uuid,
    "email": is_email,
}
CASES = {"date-time": DATE_TIMES, "date": DATES, "uri": URIS, "uuid": UUIDS, "email": EMAILS}
NAMED = [
    pytest.param(fmt, text, expected, id=f"{fmt}: {name}")
    for fmt, table in CASES.items()
    for name, (text, expected) in table.items()
]


class _Holder(BaseModel):
    model_config = ConfigDict(strict=True)
    date_time: Annotated[str | None, JsonString(format="date-time")] = None
    date: Annotated[str | None, JsonString(format="date")] = None
    uri: Annotated[str | None, JsonString(format="uri")] = None
    uuid: Annotated[str | None, JsonString(format="uuid")] = None
    email: Annotated[str | None, JsonString(format="email")] = None


def _model_accepts(fmt: str, text: str) -> bool:
    try:
        _Holder.model_validate({fmt.replace("-", "_"): text})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("fmt", "text", "expected"), NAMED)
def test_format_function_gives_ajv_verdict(fmt: str, text: str, expected: bool) -> None:
    assert CHECKS[fmt](text) is expected


@pytest.mark.parametrize(("fmt", "text", "expected"), NAMED)
def test_format_field_gives_ajv_verdict(fmt: str, text: str, expected: bool) -> None:
    assert _model_accepts(fmt, text) is expected


def _embed(fmt: str, text: str) -> tuple[str, dict[str, Any]]:
    """A valid official-schema payload whose single format-checked value is `text`."""
    if fmt == "date-time":
        payload, key = copy.deepcopy(seeds.MATERIAL_STATUS), "updated_at"
    elif fmt == "uuid":
        payload, key = copy.deepcopy(seeds.MATERIAL_STATUS), "id"
    elif fmt == "uri":
        payload, key = copy.deepcopy(seeds.TRANSFER), "waste_shipment_doc_ref"
    elif fmt == "date":
        payload, key = copy.deepcopy(seeds.NODE_REGISTRY), "version"
    else:
        payload = copy.deepcopy(seeds.NODE_INFO)
        payload["contact"]["email"] = text
        return "node-info", payload
    payload[key] = text
    schema = {"MaterialStatusUpdate": "material-status", "Transfer": "transfer"}
    return schema.get(payload["@type"], "node-info"), payload


@pytest.mark.parametrize(("fmt", "text", "expected"), NAMED)
def test_named_cases_agree_with_ajv(fmt: str, text: str, expected: bool, oracle: Any) -> None:
    assert oracle.verdict(*_embed(fmt, text)) is expected


@settings(max_examples=300, deadline=None)
@given(st.from_regex(CALENDAR_FAST_PATTERNS["date-time"], fullmatch=True))
def test_fast_date_time_pattern_only_admits_valid_date_times(text: str) -> None:
    assert is_date_time(text)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(CALENDAR_FAST_PATTERNS["date"], fullmatch=True))
def test_fast_date_pattern_only_admits_valid_dates(text: str) -> None:
    assert is_date(text)


def test_uri_regex_is_a_verbatim_copy_of_ajv_formats() -> None:
    source = PROJECT_ROOT / "tests/oracle/ajv/node_modules/ajv-formats/dist/formats.js"
    if not source.exists():
        unavailable(f"{source} is missing (run `make oracle`)")
    text = source.read_text(encoding="utf-8")
    assert re.search(r"^const URI = /(.*)/i;$", text, re.M).group(1) == formats.URI_PATTERN  # type: ignore[union-attr]
    assert f"uuid: /{formats.UUID_PATTERN}/i," in text
    assert f"email: /{formats.EMAIL_PATTERN}/i," in text


# --- pattern translation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        pytest.param(r"^0\.[1-9]\d*\.\d+$", "0.2.0", True, id="schema version"),
        pytest.param(r"^0\.[1-9]\d*\.\d+$", "0.2.0\n", False, id="$ before a trailing newline"),
        pytest.param(r"^0\.[1-9]\d*\.\d+$", "0.2.\u0660", False, id="\\d is ASCII only"),
        pytest.param(r"^https://", "https://x\nanything", True, id="unanchored end: a prefix test"),
        pytest.param(r"\.loop$", "x.loop", True, id="unanchored start: a suffix test"),
        pytest.param(r"^\w+$", "ab_9", True, id="\\w ASCII word"),
        pytest.param(r"^\w+$", "é", False, id="\\w refuses non-ASCII letters"),
        pytest.param(r"^\d{2}(\s\d{2}){2}$", "15\u00a001\u00a002", True, id="\\s takes NBSP"),
        pytest.param(r"^\d{2}(\s\d{2}){2}$", "15\ufeff01 02", True, id="\\s takes BOM"),
        pytest.param(r"^\d{2}(\s\d{2}){2}$", "15\u008501 02", False, id="\\s refuses NEL"),
        pytest.param(r"^\d{2}(\s\d{2}){2}$", "15\x1c01 02", False, id="\\s refuses FS"),
        pytest.param(r"^a[\s\S]+b$", "a\n\u0085\ud800b", True, id="[\\s\\S] is any character"),
        pytest.param(r"^(user|node):[^@]+@x$", "node:\n@x", True, id="negated class crosses lines"),
        pytest.param(r"^a.b$", "a\u2028b", False, id="dot refuses JS line terminators"),
    ],
)
def test_ecma_pattern_semantics(pattern: str, text: str, expected: bool) -> None:
    assert (ecma_to_python(pattern).search(text) is not None) is expected
    assert JsonString(pattern=pattern).check(text) is expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"^MAT-\d{4}$", "MAT-2025", True),
        (r"^MAT-\d{4}$", "MAT-2025\n", False),
        (r"^MAT-\d{4}$", "MAT-٢٠٢٥", False),
        (r"^\d{2}(\s\d{2}){2}$", "15\u00a001 02", True),
        (r"^\d{2}(\s\d{2}){2}$", "15\u008501 02", False),
        (r"^-----BEGIN[\s\S]+END-----$", "-----BEGIN\nX\n-----END-----", True),
        (r"^-----BEGIN[\s\S]+END-----$", "-----BEGIN\nX\n-----END-----\n", False),
    ],
)
def test_rust_translation_gives_the_same_verdict_in_a_model(
    pattern: str, text: str, expected: bool
) -> None:
    class Model(BaseModel):
        value: Annotated[str, JsonString(pattern=pattern)]

    assert "\\d" not in ecma_to_rust(pattern)
    try:
        Model.model_validate({"value": text})
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert accepted is expected


def test_unsupported_negated_class_escape_is_refused_loudly() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        ecma_to_rust(r"[a\S]")


def test_case_insensitive_translation_folds_ascii_only() -> None:
    assert ecma_to_rust("^k$", ignore_case=True) == "(?i-u:^k$)"
    assert ecma_to_python("^k$", ignore_case=True).search("K")
    assert not ecma_to_python("^k$", ignore_case=True).search("\u212a")


# --- JsonString in a model ----------------------------------------------------------------------


class _Texts(BaseModel):
    model_config = ConfigDict(strict=True)
    city: Annotated[str | None, JsonString(min_length=2, max_length=3)] = None
    account: Annotated[str | None, JsonString(pattern=r"^(user|node):[^@]+@[a-z]+\.loop$")] = None
    endpoint: Annotated[str | None, JsonString(format="uri", pattern=r"^https://")] = None


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        pytest.param("city", "ab", True, id="min length"),
        pytest.param("city", "a", False, id="below min length"),
        pytest.param("city", "abcd", False, id="above max length"),
        pytest.param("city", "\U0001f600\U0001f600\U0001f600", True, id="astral chars count once"),
        pytest.param("city", "a\ud800", True, id="lone surrogate counts once"),
        pytest.param("city", "ab\ud800c", False, id="lone surrogate past the limit"),
        pytest.param("account", "user:\ud800@munich.loop", True, id="lone surrogate in [^@]"),
        pytest.param("account", "user:a@munich.loop\ud800", False, id="lone surrogate after $"),
        pytest.param("endpoint", "https://x/", True, id="uri and pattern"),
        pytest.param("endpoint", "http://x/", False, id="uri but not the pattern"),
        pytest.param("endpoint", "https://x y", False, id="pattern but not a uri"),
        pytest.param("city", 12, False, id="number is not a string"),
        pytest.param("city", None, False, id="null is not a string"),
    ],
)
def test_json_string_in_a_model(field: str, value: Any, expected: bool) -> None:
    try:
        model = _Texts.model_validate({field: value})
    except ValidationError as exc:
        assert not expected
        assert exc.errors()[0]["type"] == "string_constraint"
    else:
        assert expected
        assert getattr(model, field) == value  # kept exactly as received


def test_json_string_describes_its_rule() -> None:
    assert (
        JsonString(min_length=2, max_length=80).describe()
        == "must be a string of 2 to 80 characters"
    )
    assert JsonString(max_length=5).describe() == "must be a string of at most 5 characters"
    assert JsonString(pattern="^a$").describe() == 'must be a string matching the pattern "^a$"'
    assert JsonString(format="uuid").describe() == "must be a UUID"


def test_reference_dir_default_is_the_vendored_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import reference

    monkeypatch.delenv("LOOP_REFERENCE_DIR", raising=False)
    assert reference.reference_dir() == PROJECT_ROOT / "reference" / "loop"
    assert reference.missing_reference(reference.reference_dir()) is None
    monkeypatch.setenv("LOOP_REFERENCE_DIR", "/elsewhere")
    assert reference.reference_dir() == Path("/elsewhere")
    assert "missing" in (reference.missing_reference(Path("/nonexistent")) or "")
