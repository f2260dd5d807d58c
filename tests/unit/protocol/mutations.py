"""Hypothesis strategies that mutate valid payloads into near-misses (some stay valid).

A mutant is a valid seed with 1-3 edits: a value replaced (wrong type, boundary number, interesting
string), a string tweaked (trailing newline, non-ASCII digits, date-time separators and offsets,
leap seconds, impossible days, broken URIs, lone surrogates), a number tweaked (integral float,
boolean, out of range, infinite), a key removed or added (schema keys, `contact`, unknown keys),
an array emptied or grown past its limit, or the whole payload replaced.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

Path_ = tuple[str | int, ...]

_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
_TIME_PART = re.compile(r"[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d(?::?\d\d)?)?$")
_FOCUS_KEYS = ("contact", "x-extension", "@type", "@context", "schema_version", "status", "id")

# Grouped so that each kind of near-miss is drawn about as often as the others.
STRING_TWEAK_GROUPS: list[list[Callable[[str], str]]] = [
    [  # line ends and whitespace around the value
        lambda s: s + "\n",
        lambda s: "\n" + s,
        lambda s: s + "\r",
        lambda s: s + "\r\n",
        lambda s: " " + s,
        lambda s: s + " ",
        lambda s: s + "\u2028",
    ],
    [  # non-ASCII digits
        lambda s: s.translate(_ARABIC_INDIC),
        lambda s: s.translate(_FULLWIDTH),
        lambda s: s.translate(_DEVANAGARI),
        lambda s: s.replace("1", "\u0661", 1),
    ],
    [  # case, length and content
        lambda s: s.upper(),
        lambda s: s.lower(),
        lambda s: s[:-1],
        lambda s: s[1:],
        lambda s: s + s,
        lambda s: s * 40,
        lambda s: "",
        lambda s: s[: len(s) // 2],
        lambda s: s + "\ud800",
        lambda s: "\ud800" + s,  # only high surrogates: no pair can form
        lambda s: s + "\U0001f600",
        lambda s: s.replace("-", "_"),
        lambda s: s.replace("-", ""),
        lambda s: s.replace("-", "--"),
    ],
    [  # date and time
        lambda s: s.replace("T", " ", 1),
        lambda s: s.replace("T", "t", 1),
        lambda s: s.replace("T", "\u00a0", 1),
        lambda s: s.replace("T", "\u0085", 1),
        lambda s: s.replace("T", "\ufeff", 1),
        lambda s: s.replace("T", "\u180e", 1),
        lambda s: s.replace("T", "TT", 1),
        lambda s: s.replace("Z", "z"),
        lambda s: s.replace("Z", "+01"),
        lambda s: s.replace("Z", "+0100"),
        lambda s: s.replace("Z", "-23:59"),
        lambda s: s.replace("Z", "+24:00"),
        lambda s: s.replace("Z", "+01:60"),
        lambda s: s.replace("Z", ""),
        lambda s: s.replace("Z", ".123456Z"),
        lambda s: s.replace("Z", ".99999999999999999999Z"),
        lambda s: re.sub(r":\d\d(?=[Zz+\-]|$)", ":60", s),
        lambda s: re.sub(r"[Tt ]\d\d:\d\d", "T23:59", s),
        lambda s: re.sub(r"[Tt ]\d\d:\d\d:\d\d", "T23:59:60", s),
        lambda s: re.sub(r"[Tt ]\d\d:\d\d", "T24:59", s),
        lambda s: _TIME_PART.sub("T00:59:60+01:00", s),
        lambda s: _TIME_PART.sub("T24:59:30+01:00", s),
        lambda s: _TIME_PART.sub("T22:59:60-01:00", s),
        lambda s: _TIME_PART.sub("T23:59:60+00:01", s),
        lambda s: _TIME_PART.sub("T00:00:60.5+00:01", s),
        lambda s: _TIME_PART.sub("T23:59:60.999Z", s),
        lambda s: _TIME_PART.sub("T23:59:61Z", s),
        lambda s: _TIME_PART.sub("T00:59:60+01", s),
        lambda s: _TIME_PART.sub("T23:59:60-0030", s),
        lambda s: _TIME_PART.sub("T10:00:00+23:59", s),
        lambda s: re.sub(r"-\d\d-\d\d", "-02-30", s, count=1),
        lambda s: re.sub(r"-\d\d-\d\d", "-02-29", s, count=1),
        lambda s: re.sub(r"-\d\d-\d\d", "-04-31", s, count=1),
        lambda s: re.sub(r"-\d\d-\d\d", "-00-10", s, count=1),
        lambda s: re.sub(r"^\d{4}", "2024", s),
        lambda s: re.sub(r"^\d{4}", "1900", s),
        lambda s: re.sub(r"^\d{4}", "2000", s),
    ],
    [  # URIs, e-mails, UUIDs
        lambda s: s.replace("https://", "http://"),
        lambda s: s.replace("https://", ""),
        lambda s: s.replace("://", ":"),
        lambda s: s.replace("/", "\\"),
        lambda s: s.replace(".", " ."),
        lambda s: s + "%zz",
        lambda s: s + "%4A",
        lambda s: s + "#a#b",
        lambda s: s + "?q=<x>",
        lambda s: s + "/a b",
        lambda s: s.replace("example.com", "ex\u00e4mple.com"),
        lambda s: s.replace("example.com", "[::1]"),
        lambda s: s.replace("example.com", "[v1.x]"),
        lambda s: "urn:uuid:" + s,
        lambda s: s.replace("@", "@@"),
        lambda s: s.replace("@", "."),
    ],
    [  # identifiers, versions and keys
        lambda s: s.replace(".loop", ".loop.loop"),
        lambda s: s.replace(".loop", ".LOOP"),
        lambda s: s.replace(".loop", ""),
        lambda s: s.replace("0.2.0", "0.0.1"),
        lambda s: s.replace("0.2.0", "1.0.0"),
        lambda s: s.replace("0.2.0", "0.10.7"),
        lambda s: s.replace("v0.2.0", "v0.3.0"),
        lambda s: s.replace(" ", "\u00a0"),
        lambda s: s.replace(" ", "\t"),
        lambda s: s.replace(" ", "\u2003"),
        lambda s: s.replace(" ", "\u0085"),
        lambda s: s.replace("\n", "\r\n"),
        lambda s: s.replace("-----\n", "-----"),
        lambda s: s.replace("\n-----END", "-----END"),
    ],
]

INTERESTING_STRINGS = [
    "2025-05-27T10:00:00Z",
    "2025-05-27 10:00:00Z",
    "2025-05-27t10:00:00z",
    "2025-05-27T10:00:00+01",
    "2025-05-27T10:00:00+0100",
    "2025-05-27T10:00:00.5-01:30",
    "2025-05-27T23:59:60Z",
    "2025-05-27T00:59:60+01:00",
    "2025-05-27T23:59:60+01:00",
    "2025-02-30T10:00:00Z",
    "2024-02-29T10:00:00Z",
    "2100-02-29T10:00:00Z",
    "2025-05-27T10:00:00",
    "2025-05-27",
    "2025-02-29",
    "2024-02-29",
    "2025-13-01",
    "2025-05-27T10:00:00Z\n",
    "https://example.com/x",
    "http://example.com",
    "HTTPS://EXAMPLE.COM/A?B#C",
    "urn:isbn:0451450523",
    "mailto:ops@example.com",
    "example.com/x",
    "https://exa mple.com",
    "https://[2001:db8::1]:8443/x",
    "https://[::ffff:192.0.2.1]/",
    "http://user:pw@192.0.2.1:80/a/%41",
    "//example.com",
    "a:",
    "https://münchen.de",
    "550e8400-e29b-41d4-a716-446655440000",
    "urn:uuid:550E8400-E29B-41D4-A716-446655440000",
    "550e8400e29b41d4a716446655440000",
    "ops@munich.example",
    "ops@munich",
    "o..ps@munich.example",
    "MAT-DE-MUC-2025-PLASTIC-B847F3",
    "MAT-DE-MUC-2025-PLASTIC-B847F3\n",
    "MAT-DE-MUC-٢٠٢٥-PLASTIC-B847F3",
    "PRD-DE-MUC-2025-DESK-F4A7B2",
    "PRD-1234567",
    "OFR-2F7A6B9C",
    "ofr-2f7a6b9c",
    "TXN-2025-05-27-001",
    "TXN-2025-05-27-01",
    "munich.loop",
    "Munich.loop",
    "munich.loop\n",
    "user:maria@munich.loop",
    "user:ma@ria@munich.loop",
    "user:\n@munich.loop",
    "LC-MUC",
    "LC-MU",
    "15 01 02",
    "15\u00a001\u00a002",
    "15\u008501 02",
    "C22.2",
    "7439-92-1",
    "DE",
    "de",
    "0.2.0",
    "0.1.1",
    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    "-----BEGIN PUBLIC KEY----------END PUBLIC KEY-----",
    "a",
    "ab",
    "x" * 80,
    "x" * 81,
    "x" * 120,
    "x" * 121,
    "x" * 160,
    "x" * 161,
    "x" * 200,
    "x" * 201,
    "x" * 280,
    "x" * 281,
    "x" * 500,
    "x" * 501,
    "\U0001f600" * 80,
    "\U0001f600" * 81,
    "\ud800" * 2,
    "any",
    "registered",
    "1",
    "true",
    "",
]

INTERESTING_NUMBERS: list[Any] = [
    0,
    -0.0,
    -1,
    0.5,
    1,
    1.0,
    1.5,
    2,
    10,
    10.5,
    11,
    12,
    12.0,
    13,
    0.01,
    0.009999,
    0.2,
    0.2000001,
    0.50001,
    90,
    90.0000001,
    -90.5,
    180,
    -180.5,
    100,
    100.0,
    100.01,
    300.0,
    1899,
    1899.0,
    1899.5,
    1900,
    1900.0,
    2**53 + 1,
    10**30,
    10**400,
    -(10**400),
    1e308,
    float("inf"),
    float("-inf"),
    True,
    False,
    None,
    "1",
    "0.5",
]

NUMBER_TWEAKS: list[Callable[[Any], Any]] = [
    lambda n: float(n),
    lambda n: float(n),
    lambda n: float(n) + 0.5,
    lambda n: bool(n),
    lambda n: int(n) if float(n).is_integer() else n + 0.5,
    lambda n: -n,
    lambda n: n + 0.5,
    lambda n: n * 1000,
    lambda n: n + 1,
    lambda n: n - 1,
    lambda n: str(n),
    lambda n: bool(n),
    lambda n: float("inf") if n >= 0 else float("-inf"),
    lambda n: [n],
]

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(INTERESTING_STRINGS),
    st.sampled_from(INTERESTING_NUMBERS),
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@dataclass(frozen=True)
class Vocabulary:
    """Property names and enum/const strings taken from the official schemas.

    `checked_strings` names properties with a pattern, format or length and `integers` those of
    type integer: edits aim at them more often than their share of a big payload would give.
    """

    keys: tuple[str, ...]
    strings: tuple[str, ...]
    checked_strings: frozenset[str]
    integers: frozenset[str]


def schema_vocabulary(reference: Path) -> Vocabulary:
    keys: set[str] = {"contact", "x-extension", "@id", "@type", "status", "id"}
    strings: set[str] = set()
    checked: set[str] = set()
    integers: set[str] = set()
    documents = [json.loads(p.read_text()) for p in sorted((reference / "schemas").glob("*.json"))]
    openapi = json.loads((reference / "openapi.json").read_text())
    documents += [
        openapi["components"]["schemas"][n] for n in ("MaterialAnnouncement", "MaterialOffer")
    ]
    for document in documents:
        _collect(document, keys, strings)
        _collect_typed(document, checked, integers)
    return Vocabulary(
        tuple(sorted(keys)), tuple(sorted(strings)), frozenset(checked), frozenset(integers)
    )


def _collect(node: Any, keys: set[str], strings: set[str]) -> None:
    if isinstance(node, dict):
        keys.update(node.get("properties", {}) if isinstance(node.get("properties"), dict) else {})
        strings.update(v for v in node.get("enum", []) if isinstance(v, str))
        if isinstance(node.get("const"), str):
            strings.add(node["const"])
        for value in node.values():
            _collect(value, keys, strings)
    elif isinstance(node, list):
        for value in node:
            _collect(value, keys, strings)


def _collect_typed(node: Any, checked: set[str], integers: set[str]) -> None:
    if isinstance(node, dict):
        properties = node.get("properties")
        for name, spec in properties.items() if isinstance(properties, dict) else ():
            items = spec.get("items", {})
            if {"pattern", "format", "maxLength", "minLength"} & (set(spec) | set(items)):
                checked.add(name)
            if "integer" in (spec.get("type"), items.get("type")):
                integers.add(name)
        for value in node.values():
            _collect_typed(value, checked, integers)
    elif isinstance(node, list):
        for value in node:
            _collect_typed(value, checked, integers)


@st.composite
def mutants(draw: st.DrawFn, seeds: list[Any], vocabulary: Vocabulary) -> Any:
    """A seed with 1 to 3 random edits."""
    doc = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        operation = draw(st.sampled_from(_OPERATIONS))
        doc = operation(draw, doc, vocabulary)
    return doc


def _paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _get(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _set(doc: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _pick(
    draw: st.DrawFn, doc: Any, keep: Callable[[Any], bool], prefer: frozenset[str] = frozenset()
) -> Path_ | None:
    """A path whose value passes `keep`; usually one under a `prefer` key when there is one."""
    candidates = [p for p in _paths(doc) if keep(_get(doc, p))]
    preferred = [p for p in candidates if any(part in prefer for part in p[-2:])]
    if preferred and draw(st.integers(0, 3)):
        candidates = preferred
    return draw(st.sampled_from(candidates)) if candidates else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _replace(draw: st.DrawFn, doc: Any, vocabulary: Vocabulary) -> Any:
    paths = _paths(doc)[1:] or [()]
    path = draw(st.sampled_from(paths))
    new = draw(
        st.one_of(
            JSON_VALUES,
            st.sampled_from(INTERESTING_STRINGS),
            st.sampled_from(INTERESTING_NUMBERS),
            st.sampled_from(vocabulary.strings),
        )
    )
    return _set(doc, path, new)


def _tweak_string(draw: st.DrawFn, doc: Any, vocabulary: Vocabulary) -> Any:
    path = _pick(draw, doc, lambda v: isinstance(v, str), vocabulary.checked_strings)
    if path is None:
        return doc
    tweak = draw(st.sampled_from(draw(st.sampled_from(STRING_TWEAK_GROUPS))))
    return _set(doc, path, tweak(_get(doc, path)))


def _tweak_number(draw: st.DrawFn, doc: Any, vocabulary: Vocabulary) -> Any:
    path = _pick(draw, doc, _is_number, vocabulary.integers)
    if path is None:
        return doc
    try:
        value = draw(st.sampled_from(NUMBER_TWEAKS))(_get(doc, path))
    except (OverflowError, ValueError):
        value = float("inf")
    return _set(doc, path, value)


def _delete(draw: st.DrawFn, doc: Any, vocabulary: Vocabulary) -> Any:
    path = _pick(draw, doc, lambda v: isinstance(v, dict) and bool(v))
    if path is None:
        return doc
    parent = _get(doc, path)
    del parent[draw(st.sampled_from(sorted(parent)))]
    return doc


def _add_key(draw: st.DrawFn, doc: Any, vocabulary: Vocabulary) -> Any:
    path = () if isinstance(doc, dict) and draw(st.booleans()) else None
    path = path if path is not None else _pick(draw, doc, lambda v: isinstance(v, dict))
    if path is None:
        return doc
    key = draw(
        st.sampled_from(_FOCUS_KEYS) | st.sampled_from(vocabulary.keys) | st.text(max_size=6)
    )
    _get(doc, path)[key] = draw(JSON_VALUES | st.sampled_from(INTERESTING_STRINGS))
    return doc


def _reshape_array(draw: st.DrawFn, doc: Any, vocabulary: Vocabulary) -> Any:
    path = _pick(draw, doc, lambda v: isinstance(v, list))
    if path is None:
        return doc
    items = _get(doc, path)
    action = draw(st.sampled_from(["empty", "grow", "grow", "append", "swap"]))
    if action == "empty" or not items:
        new: list[Any] = []
    elif action == "grow":
        new = [copy.deepcopy(items[0]) for _ in range(draw(st.sampled_from([2, 10, 11, 20, 21])))]
    elif action == "append":
        new = [*items, draw(JSON_VALUES)]
    else:
        new = [draw(JSON_VALUES), *items[1:]]
    return _set(doc, path, new)


def _replace_root(draw: st.DrawFn, doc: Any, vocabulary: Vocabulary) -> Any:
    return draw(st.sampled_from([None, [], "x", 1, True, [doc], {}]))


_OPERATIONS = [
    _replace,
    _replace,
    _replace,
    _tweak_string,
    _tweak_string,
    _tweak_string,
    _tweak_string,
    _tweak_number,
    _tweak_number,
    _delete,
    _delete,
    _add_key,
    _add_key,
    _reshape_array,
    _reshape_array,
    _replace_root,
]
