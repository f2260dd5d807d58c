"""JSON Schema string rules with the upstream validator's exact semantics.

Theory of operation (SPEC-DIGEST §1.0 and §4.13, DECISIONS 3). Upstream LOOP validates payloads
with AJV 8 and ajv-formats 3 (full mode), so a string is valid here exactly when it is valid there:

- A schema `pattern` is an ECMAScript regular expression compiled with the `u` flag and used as an
  unanchored search. Only the schema's own `^`/`$` anchor it, and `$` matches at the very end of the
  string only (never before a trailing newline). `\\d` and `\\w` are ASCII; `\\s` is ECMAScript's
  whitespace set (ASCII whitespace plus U+00A0, U+FEFF, the Zs spaces and U+2028/9), not Python's
  or Rust's. `ecma_to_rust` / `ecma_to_python` rewrite a pattern so that the Rust `regex` crate
  (used by pydantic-core) or Python's `re` give the same verdict.
- `minLength`/`maxLength` count code points, as Python's `len` does.
- The five formats the core schemas use are ported from `ajv-formats/dist/formats.js` (`date` and
  `date-time` live in `domain/times.py`, beside the one timestamp parser they gate): `date-time`
  (a `T`, `t` or any whitespace between date and time, offsets `Z`, `+01`, `+0100`, `+01:00`,
  calendar-checked days, leap second `:60` only at 23:59 UTC), `date`, `uri` (the long full-mode
  regex), `uuid` (optionally `urn:uuid:`-prefixed) and `email`; their regexes use the `i` flag
  without `u`, which folds ASCII letters only.

`JsonString` is the `Annotated` marker that puts these rules into a model field. The fast path is
a pydantic-core string schema (Rust); Python runs only for `date`/`date-time`, and for strings
holding a lone surrogate, which the Rust engine cannot read but AJV measures and matches like any
other character. Values are kept exactly as received: nothing is normalised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError
from pydantic_core import core_schema as cs

from loopnode.domain.times import JS_WHITESPACE, is_date, is_date_time

FormatName = Literal["date-time", "date", "uri", "uuid", "email"]

_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_", "s": JS_WHITESPACE}
# ECMAScript `.` without the `s` flag: any code point but a line terminator.
_JS_DOT = "[^\\n\\r\\u2028\\u2029]"


# --- ECMAScript pattern translation -------------------------------------------------------------


def ecma_to_rust(pattern: str, *, ignore_case: bool = False) -> str:
    """`pattern` rewritten for the Rust `regex` crate with the same search verdict.

    `ignore_case` is the `i` flag without `u`: ASCII-only case folding, so the Rust flags are
    `(?i-u)` (Unicode folding would let U+212A KELVIN SIGN match `k`). Only ajv-formats' own
    all-ASCII regexes use it.
    """
    translated = _translate(pattern, end_anchor="$")
    return f"(?i-u:{translated})" if ignore_case else translated


@lru_cache(maxsize=256)
def ecma_to_python(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """`pattern` compiled for Python's `re` with the same search verdict (`$` becomes `\\Z`)."""
    flags = re.ASCII | (re.IGNORECASE if ignore_case else 0)
    return re.compile(_translate(pattern, end_anchor="\\Z"), flags)


def _translate(pattern: str, *, end_anchor: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(_translate_escape(pattern[i + 1]))
            i += 2
        elif char == "[":
            end = _class_end(pattern, i)
            out.append(_translate_class(pattern[i + 1 : end]))
            i = end + 1
        else:
            out.append({"$": end_anchor, ".": _JS_DOT}.get(char, char))
            i += 1
    return "".join(out)


def _translate_escape(letter: str) -> str:
    if letter in _CLASS_ESCAPES:
        return f"[{_CLASS_ESCAPES[letter]}]"
    if letter.lower() in _CLASS_ESCAPES:
        return f"[^{_CLASS_ESCAPES[letter.lower()]}]"
    return "\\" + letter


def _class_end(pattern: str, start: int) -> int:
    i = start + 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        raise ValueError(f"empty ECMAScript class in {pattern!r} is not supported")
    while pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


def _translate_class(body: str) -> str:
    tokens = re.findall(r"\\.|.", body, re.DOTALL)
    out: list[str] = []
    for token in tokens:
        letter = token[1:] if token.startswith("\\") else ""
        if letter in _CLASS_ESCAPES:
            out.append(_CLASS_ESCAPES[letter])
        elif letter.lower() in _CLASS_ESCAPES:
            # `[\s\S]`-style classes match every character whatever `\s` means; no other use of a
            # negated escape inside a class occurs in the LOOP schemas, so refuse it loudly.
            if "\\" + letter.lower() not in tokens:
                raise ValueError(f"unsupported class escape {token!r} in [{body}]")
            out.append(token)
        else:
            out.append("\\[" if token == "[" else token)
    return "[" + "".join(out) + "]"


# --- The ajv-formats 3 full-mode formats ----------------------------------------------------------

# Copied from ajv-formats 3.0.1 dist/formats.js (MIT, (c) Evgeny Poberezkin); a test compares
# these with the installed oracle's source.
URI_PATTERN = (
    r"^(?:[a-z][a-z0-9+\-.]*:)(?:\/?\/(?:(?:[a-z0-9\-._~!$&'()*+,;=:]|%[0-9a-f]{2})*@)"
    r"?(?:\[(?:(?:(?:(?:[0-9a-f]{1,4}:){6}|::(?:[0-9a-f]{1,4}:){5}|(?:[0-9a-f]{1,4})?:"
    r":(?:[0-9a-f]{1,4}:){4}|(?:(?:[0-9a-f]{1,4}:){0,1}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,"
    r"4}:){3}|(?:(?:[0-9a-f]{1,4}:){0,2}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){2}|(?:(?:["
    r"0-9a-f]{1,4}:){0,3}[0-9a-f]{1,4})?::[0-9a-f]{1,4}:|(?:(?:[0-9a-f]{1,4}:){0,4}[0-"
    r"9a-f]{1,4})?::)(?:[0-9a-f]{1,4}:[0-9a-f]{1,4}|(?:(?:25[0-5]|2[0-4]\d|[01]?\d\d?)"
    r"\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d\d?))|(?:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4})?"
    r"::[0-9a-f]{1,4}|(?:(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4})?::)|[Vv][0-9a-f]+\.[a-z"
    r"0-9\-._~!$&'()*+,;=:]+)\]|(?:(?:25[0-5]|2[0-4]\d|[01]?\d\d?)\.){3}(?:25[0-5]|2[0"
    r"-4]\d|[01]?\d\d?)|(?:[a-z0-9\-._~!$&'()*+,;=]|%[0-9a-f]{2})*)(?::\d*)?(?:\/(?:[a"
    r"-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*|\/(?:(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0"
    r"-9a-f]{2})+(?:\/(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*)?|(?:[a-z0-9\-._~"
    r"!$&'()*+,;=:@]|%[0-9a-f]{2})+(?:\/(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*"
    r")(?:\?(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?(?:#(?:[a-z0-9\-._~!$&'()*"
    r"+,;=:@/?]|%[0-9a-f]{2})*)?$"
)
UUID_PATTERN = r"^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$"
EMAIL_PATTERN = (
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
)
_REGEX_FORMATS: dict[str, str] = {"uri": URI_PATTERN, "uuid": UUID_PATTERN, "email": EMAIL_PATTERN}
_PY_REGEX_FORMATS = {
    name: ecma_to_python(source, ignore_case=True) for name, source in _REGEX_FORMATS.items()
}


def is_uri(text: str) -> bool:
    """ajv-formats `uri` (full mode): an absolute URI per the jmrware RFC 3986 regex."""
    return ("/" in text or ":" in text) and _PY_REGEX_FORMATS["uri"].search(text) is not None


def is_uuid(text: str) -> bool:
    """ajv-formats `uuid`: 8-4-4-4-12 hex digits, any case, optional `urn:uuid:` prefix."""
    return _PY_REGEX_FORMATS["uuid"].search(text) is not None


def is_email(text: str) -> bool:
    """ajv-formats `email` (full mode)."""
    return _PY_REGEX_FORMATS["email"].search(text) is not None


# Sub-languages of `date` and `date-time` (days valid in every year, seconds that cannot round up
# to 60, offsets within range): a string that matches is valid, one that does not may still be.
_FAST_DATE_BODY = (
    r"[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
CALENDAR_FAST_PATTERNS = {
    "date": f"^{_FAST_DATE_BODY}$",
    "date-time": (
        f"^{_FAST_DATE_BODY}"
        r"[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:"
        r"(?:(?:[0-4][0-9]|5[0-8])(?:\.[0-9]+)?|59(?:\.[0-9]{1,12})?)"
        r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)$"
    ),
}

FORMAT_CHECKS = {
    "date-time": is_date_time,
    "date": is_date,
    "uri": is_uri,
    "uuid": is_uuid,
    "email": is_email,
}
_FORMAT_WORDING = {
    "date-time": 'a date-time (RFC 3339, e.g. "2025-05-27T10:00:00Z")',
    "date": 'a date ("YYYY-MM-DD")',
    "uri": 'an absolute URI (e.g. "https://example.com/x")',
    "uuid": "a UUID",
    "email": "an e-mail address",
}


# --- The Annotated marker -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JsonString:
    """A JSON Schema `type: string` with its `pattern`, lengths and `format`, as AJV checks them.

    Use it in `Annotated[str, JsonString(...)]` (or `Annotated[str | None, ...]`: the marker builds
    the whole schema, so an explicit `null` is rejected like AJV does). Every failure is one error
    of type `string_constraint` whose message states the full rule.
    """

    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    format: FormatName | None = None

    def describe(self) -> str:
        """The rule in English: `must be a string of 2 to 80 characters`."""
        parts = [f"must be {_FORMAT_WORDING[self.format]}" if self.format else "must be a string"]
        if self.min_length is not None and self.max_length is not None:
            parts.append(f"of {self.min_length} to {self.max_length} characters")
        elif self.max_length is not None:
            parts.append(f"of at most {self.max_length} characters")
        elif self.min_length is not None:
            parts.append(f"of at least {self.min_length} characters")
        if self.pattern is not None:
            parts.append(f'matching the pattern "{self.pattern}"')
        return " ".join(parts)

    def check(self, text: str) -> bool:
        """The rule in pure Python (the reference the fast path must agree with)."""
        if self.min_length is not None and len(text) < self.min_length:
            return False
        if self.max_length is not None and len(text) > self.max_length:
            return False
        if self.pattern is not None and ecma_to_python(self.pattern).search(text) is None:
            return False
        return self.format is None or FORMAT_CHECKS[self.format](text)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = self._fast_schema()
        if self.pattern is not None or self.min_length is not None or self.max_length is not None:
            # The Rust engine refuses strings with lone surrogates; re-check those in Python.
            fallback = cs.no_info_after_validator_function(
                self._check_surrogate_string, cs.str_schema(strict=True)
            )
            schema = cs.union_schema([schema, fallback], mode="left_to_right")
        return cs.custom_error_schema(
            schema, custom_error_type="string_constraint", custom_error_message=self.describe()
        )

    def _fast_schema(self) -> CoreSchema:
        steps: list[CoreSchema] = []
        if self.format in _REGEX_FORMATS:
            pattern = ecma_to_rust(_REGEX_FORMATS[self.format], ignore_case=True)
            steps.append(cs.str_schema(strict=True, pattern=pattern))
        if self.pattern is not None or self.min_length is not None or self.max_length is not None:
            steps.append(
                cs.str_schema(
                    strict=True,
                    pattern=None if self.pattern is None else ecma_to_rust(self.pattern),
                    min_length=self.min_length,
                    max_length=self.max_length,
                )
            )
        if self.format in CALENDAR_FAST_PATTERNS:
            # Ordinary timestamps are accepted by a Rust regex that admits valid values only;
            # Python sees the rest (29 February, leap seconds, other separators) and the invalid.
            fast = cs.str_schema(strict=True, pattern=CALENDAR_FAST_PATTERNS[self.format])
            full = cs.no_info_after_validator_function(
                self._check_format, cs.str_schema(strict=True)
            )
            steps.append(cs.union_schema([fast, full], mode="left_to_right"))
        if not steps:
            return cs.str_schema(strict=True)
        return steps[0] if len(steps) == 1 else cs.chain_schema(steps)

    def _check_format(self, text: str) -> str:
        if self.format is not None and not FORMAT_CHECKS[self.format](text):
            raise PydanticCustomError("string_constraint", self.describe())
        return text

    def _check_surrogate_string(self, text: str) -> str:
        if not _has_lone_surrogate(text) or not self.check(text):
            raise PydanticCustomError("string_constraint", self.describe())
        return text


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


DateTime = Annotated[str, JsonString(format="date-time")]
Date = Annotated[str, JsonString(format="date")]
Uri = Annotated[str, JsonString(format="uri")]
Uuid = Annotated[str, JsonString(format="uuid")]
Email = Annotated[str, JsonString(format="email")]
