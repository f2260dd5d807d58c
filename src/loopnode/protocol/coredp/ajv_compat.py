"""Make Python's `jsonschema` give the upstream validator's verdicts and wording.

Theory of operation (SPEC-DIGEST §4.13, §5.1; DECISIONS 3): the official verdicts come from
AJV 8 (`allErrors`, `strict: false`) with ajv-formats 3 in "full" mode, and the conformance
vectors match AJV's English error text. Plain `jsonschema` differs in four ways, fixed here:

- **patterns** are ECMAScript regexes compiled with the `u` flag: `$` matches only at the very
  end (Python's also matches before a final newline), `\\d`/`\\w` are ASCII, `\\s` is the JS
  whitespace set, `.` excludes all four JS line terminators. `ecma_regex` translates.
- **formats** are asserted exactly as ajv-formats' full mode does for the five formats the
  schemas use (`date-time`, `date`, `uri`, `uuid`, `email`, plus `time`), including its
  leniencies (space or `t` separator, `+0100` offsets, leap seconds, `urn:uuid:`). Unknown
  formats are ignored, as AJV does with `strict: false`.
- **messages**: every keyword the schemas use reports AJV's text (`must be equal to constant`,
  `must match format "uri"`...), one error per missing or additional property.
- **applicators**: like AJV with `allErrors`, a failing `oneOf`/`anyOf`/`contains` reports the
  errors of its branches before its own, and an `if` whose `then`/`else` fails adds
  `must match "then" schema`.

`KEYWORDS` maps keyword names to jsonschema validator functions; `schemas.py` builds the
validator class from it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from jsonschema import ValidationError
from jsonschema import _keywords as jsonschema_keywords

__all__ = ["FORMATS", "KEYWORDS", "ecma_regex", "js_number"]

Keyword = Callable[[Any, Any, Any, Mapping[str, Any]], Iterator[ValidationError] | None]

# ECMAScript WhiteSpace + LineTerminator: what `\s` matches in JS.
_JS_WS = "\\t\\n\\v\\f\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
_JS_DOT = "[^\\n\\r\\u2028\\u2029]"


# --- ECMAScript regular expressions ---------------------------------------------------------


@lru_cache(maxsize=512)
def ecma_regex(source: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile an ECMAScript pattern (as AJV does, with the `u` flag) for `re.search`."""
    flags = re.ASCII | (re.IGNORECASE if ignore_case else 0)
    return re.compile(_translate(source), flags)


def _translate(source: str) -> str:
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\\" and i + 1 < len(source):
            piece, i = _escape(source, i, in_class)
            out.append(piece)
            continue
        if in_class:
            in_class = char != "]"
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "$":
            out.append("\\Z")
        elif char == ".":
            out.append(_JS_DOT)
        elif source.startswith("(?<", i) and source[i + 3 : i + 4] not in ("=", "!"):
            out.append("(?P<")
            i += 3
            continue
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _escape(source: str, i: int, in_class: bool) -> tuple[str, int]:
    code = source[i + 1]
    if code == "s":
        return (_JS_WS if in_class else f"[{_JS_WS}]"), i + 2
    if code == "S" and not in_class:
        return f"[^{_JS_WS}]", i + 2
    if code == "u" and source.startswith("{", i + 2):
        end = source.index("}", i + 3)
        return f"\\U{int(source[i + 3 : end], 16):08x}", end + 1
    if code == "k" and source.startswith("<", i + 2):
        end = source.index(">", i + 3)
        return f"(?P={source[i + 3 : end]})", end + 1
    return source[i : i + 2], i + 2


# --- ajv-formats (full mode) ----------------------------------------------------------------

_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DATE = re.compile(r"^(\d\d\d\d)-(\d\d)-(\d\d)\Z", re.ASCII)
_TIME = re.compile(
    r"^(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|([+-])(\d\d)(?::?(\d\d))?)?\Z", re.ASCII | re.IGNORECASE
)
_DATE_TIME_SEPARATOR = re.compile(f"[tT{_JS_WS}]")
_NOT_URI_FRAGMENT = re.compile(r"/|:")
# ajv-formats' `URI` regex, verbatim (MIT, (c) Evgeny Poberezkin): RFC 3986 URI with a scheme.
_URI_SOURCE = (
    r"^(?:[a-z][a-z0-9+\-.]*:)(?:\/?\/(?:(?:[a-z0-9\-._~!$&'()*+,;=:]|%[0-9a-f]{2})*@)?(?:\["
    r"(?:(?:(?:(?:[0-9a-f]{1,4}:){6}|::(?:[0-9a-f]{1,4}:){5}|(?:[0-9a-f]{1,4})?::(?:[0-9a-f]"
    r"{1,4}:){4}|(?:(?:[0-9a-f]{1,4}:){0,1}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){3}|(?:(?:[0-9"
    r"a-f]{1,4}:){0,2}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){2}|(?:(?:[0-9a-f]{1,4}:){0,3}[0-9a"
    r"-f]{1,4})?::[0-9a-f]{1,4}:|(?:(?:[0-9a-f]{1,4}:){0,4}[0-9a-f]{1,4})?::)(?:[0-9a-f]{1,4"
    r"}:[0-9a-f]{1,4}|(?:(?:25[0-5]|2[0-4]\d|[01]?\d\d?)\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d\d?"
    r"))|(?:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4})?::[0-9a-f]{1,4}|(?:(?:[0-9a-f]{1,4}:){0,6}"
    r"[0-9a-f]{1,4})?::)|[Vv][0-9a-f]+\.[a-z0-9\-._~!$&'()*+,;=:]+)\]|(?:(?:25[0-5]|2[0-4]\d"
    r"|[01]?\d\d?)\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d\d?)|(?:[a-z0-9\-._~!$&'()*+,;=]|%[0-9a-f"
    r"]{2})*)(?::\d*)?(?:\/(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*|\/(?:(?:[a-z0-9\-."
    r"_~!$&'()*+,;=:@]|%[0-9a-f]{2})+(?:\/(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*)?|("
    r"?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})+(?:\/(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f"
    r"]{2})*)*)(?:\?(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?(?:#(?:[a-z0-9\-._~!$&'("
    r")*+,;=:@/?]|%[0-9a-f]{2})*)?$"
)
_URI = ecma_regex(_URI_SOURCE, ignore_case=True)
_UUID = re.compile(
    r"^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}\Z", re.ASCII | re.IGNORECASE
)
_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\Z",
    re.ASCII | re.IGNORECASE,
)


def _is_date(text: str) -> bool:
    match = _DATE.match(text)
    if match is None:
        return False
    year, month, day = (int(g) for g in match.groups())
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 1 <= month <= 12 and 1 <= day <= (29 if month == 2 and leap else _DAYS[month])


def _is_time(text: str, strict_tz: bool = True) -> bool:
    match = _TIME.match(text)
    if match is None:
        return False
    hour, minute, second = int(match[1]), int(match[2]), float(match[3])
    tz_sign = -1 if match[5] == "-" else 1
    tz_h, tz_m = int(match[6] or 0), int(match[7] or 0)
    if tz_h > 23 or tz_m > 59 or (strict_tz and not match[4]):
        return False
    if hour <= 23 and minute <= 59 and second < 60:
        return True
    # A leap second is valid only at 23:59 UTC.
    utc_min = minute - tz_m * tz_sign
    utc_hr = hour - tz_h * tz_sign - (1 if utc_min < 0 else 0)
    return utc_hr in (23, -1) and utc_min in (59, -1) and second < 61


def _is_date_time(text: str) -> bool:
    parts = _DATE_TIME_SEPARATOR.split(text)
    return len(parts) == 2 and _is_date(parts[0]) and _is_time(parts[1])


def _is_uri(text: str) -> bool:
    return bool(_NOT_URI_FRAGMENT.search(text)) and _URI.match(text) is not None


FORMATS: Mapping[str, Callable[[str], bool]] = {
    "date": _is_date,
    "time": _is_time,
    "date-time": _is_date_time,
    "uri": _is_uri,
    "uuid": lambda text: _UUID.match(text) is not None,
    "email": lambda text: _EMAIL.match(text) is not None,
}


# --- keywords with AJV's behaviour and wording ----------------------------------------------


def js_number(value: object) -> str:
    """`String(n)` in JS, for the numbers that appear in schema limits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) < 1e21
    ):
        return str(int(value))
    return str(value) if isinstance(value, int) else repr(value)


def _worded(original: Keyword, wording: Callable[[Any], str]) -> Keyword:
    """Keep jsonschema's logic for a keyword, replace its message with AJV's."""

    def keyword(validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
        for error in original(validator, value, instance, schema) or ():
            error.message = wording(value)
            yield error

    return keyword


def _type(validator: Any, types: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
    names = [types] if isinstance(types, str) else list(types)
    if not any(validator.is_type(instance, name) for name in names):
        yield ValidationError(f"must be {','.join(names)}")


def _required(validator: Any, required: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for name in required:
        if name not in instance:
            yield ValidationError(f"must have required property '{name}'")


def _additional_properties(
    validator: Any, extra_schema: Any, instance: Any, schema: Mapping[str, Any]
) -> Any:
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    patterns = [ecma_regex(p) for p in schema.get("patternProperties", {})]
    for name in instance:
        if name in declared or any(p.search(name) for p in patterns):
            continue
        if extra_schema is False:
            yield ValidationError("must NOT have additional properties")
        elif isinstance(extra_schema, Mapping):
            yield from validator.descend(instance[name], extra_schema, path=name)


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
    if isinstance(instance, str) and not ecma_regex(pattern).search(instance):
        yield ValidationError(f'must match pattern "{pattern}"')


def _format(validator: Any, name: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
    check = FORMATS.get(name)
    if check is not None and isinstance(instance, str) and not check(instance):
        yield ValidationError(f'must match format "{name}"')


def _contains(validator: Any, contains: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
    if not validator.is_type(instance, "array"):
        return
    errors: list[ValidationError] = []
    for index, item in enumerate(instance):
        item_errors = list(validator.descend(item, contains, path=index))
        if not item_errors:
            return
        errors.extend(item_errors)
    yield from errors
    yield ValidationError("must contain at least 1 valid item(s)")


def _branches(validator: Any, subschemas: Any, instance: Any) -> tuple[int, list[Any]]:
    passing = 0
    errors: list[ValidationError] = []
    for index, subschema in enumerate(subschemas):
        branch = list(validator.descend(instance, subschema, schema_path=index))
        passing += not branch
        errors.extend(branch)
    return passing, errors


def _one_of(validator: Any, subschemas: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
    passing, errors = _branches(validator, subschemas, instance)
    if passing != 1:
        yield from errors
        yield ValidationError("must match exactly one schema in oneOf")


def _any_of(validator: Any, subschemas: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
    passing, errors = _branches(validator, subschemas, instance)
    if not passing:
        yield from errors
        yield ValidationError("must match a schema in anyOf")


def _if(validator: Any, if_schema: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
    branch = "then" if validator.evolve(schema=if_schema).is_valid(instance) else "else"
    if branch not in schema:
        return
    errors = list(validator.descend(instance, schema[branch], schema_path=branch))
    if errors:
        yield from errors
        yield ValidationError(f'must match "{branch}" schema')


def _limit(op: str, noun: str) -> Callable[[Any], str]:
    return lambda limit: f"must NOT have {op} than {js_number(limit)} {noun}"


KEYWORDS: Mapping[str, Keyword] = {
    "type": _type,
    "required": _required,
    "additionalProperties": _additional_properties,
    "pattern": _pattern,
    "format": _format,
    "contains": _contains,
    "oneOf": _one_of,
    "anyOf": _any_of,
    "if": _if,
    "const": _worded(jsonschema_keywords.const, lambda _: "must be equal to constant"),
    "enum": _worded(
        jsonschema_keywords.enum, lambda _: "must be equal to one of the allowed values"
    ),
    "not": _worded(jsonschema_keywords.not_, lambda _: "must NOT be valid"),
    "minimum": _worded(jsonschema_keywords.minimum, lambda n: f"must be >= {js_number(n)}"),
    "maximum": _worded(jsonschema_keywords.maximum, lambda n: f"must be <= {js_number(n)}"),
    "exclusiveMinimum": _worded(
        jsonschema_keywords.exclusiveMinimum, lambda n: f"must be > {js_number(n)}"
    ),
    "exclusiveMaximum": _worded(
        jsonschema_keywords.exclusiveMaximum, lambda n: f"must be < {js_number(n)}"
    ),
    "multipleOf": _worded(
        jsonschema_keywords.multipleOf, lambda n: f"must be multiple of {js_number(n)}"
    ),
    "minLength": _worded(jsonschema_keywords.minLength, _limit("fewer", "characters")),
    "maxLength": _worded(jsonschema_keywords.maxLength, _limit("more", "characters")),
    "minItems": _worded(jsonschema_keywords.minItems, _limit("fewer", "items")),
    "maxItems": _worded(jsonschema_keywords.maxItems, _limit("more", "items")),
    "minProperties": _worded(jsonschema_keywords.minProperties, _limit("fewer", "properties")),
    "maxProperties": _worded(jsonschema_keywords.maxProperties, _limit("more", "properties")),
}
