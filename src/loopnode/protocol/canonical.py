"""Canonical JSON (RFC 8785, JCS) and the SHA-256 hashes built on it.

Theory of operation: LOOP signs and hashes JSON by its canonical form (SPEC-DIGEST §4.1 and
Appendix B). The upstream `canonicalJson` (keys sorted by UTF-16 code units, ECMAScript number
formatting, `JSON.stringify` escapes, no whitespace) is byte-identical to JCS for well-formed
input, so the `rfc8785` package is the implementation. Record, payload and evidence hashes are the
lowercase hex SHA-256 of those bytes (DECISIONS 22).

JCS cannot represent everything Python (or a hostile peer) can hand over: integers beyond
±(2^53−1) lose precision in every JavaScript peer, lone surrogates are not UTF-8, NaN and
infinities are not JSON. Those inputs raise `CanonicalizationFailed`, an `InvalidRequest`, so a
receiver answers them as a schema/signature problem of the sender, never as a 500 (DECISIONS 20).

Fast path (docs/performance.md): `rfc8785` is pure Python (58 µs for a MaterialDNA here). For
the values where it provably gives the same bytes, `orjson` with sorted keys does the work in C:
- every object key an ASCII `str`, so code-point order equals UTF-16 code-unit order;
- every number an `int` within ±(2^53−1) (printed the same by both) or a finite, non-integral
  `float` with 10^-4 ≤ |x| < 10^15: both print the shortest round-trip digits, and in that range
  both in plain decimal notation (outside it orjson switches to exponents earlier than
  ECMAScript, and it writes `1.0` where ECMAScript writes `1`);
- nothing but dict, list, tuple, str, int, float, bool and None (orjson would serialise
  datetimes or dataclasses that JCS refuses).
String values may hold any character: both write non-ASCII as UTF-8 and escape quote, backslash
and control characters identically; a lone surrogate makes orjson fail and the value goes to
`rfc8785`, which rejects it. Everything else goes to `rfc8785`. A hypothesis property test in
tests/unit/protocol/test_canonical.py pins the two paths to each other.
"""

from __future__ import annotations

import hashlib

import orjson
import rfc8785

from loopnode.domain.errors import InvalidRequest

__all__ = ["CanonicalizationFailed", "canonical_bytes", "sha256_hex"]

# Error messages quote the library's reason; a hostile payload must not make them unbounded.
_MAX_REASON = 200


class CanonicalizationFailed(InvalidRequest):
    """The value has no RFC 8785 form (huge integer, lone surrogate, NaN, non-JSON type)."""


def canonical_bytes(obj: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value.

    Accepts what `json.loads` produces (dict with str keys, list, tuple, str, int, float, bool,
    None). Raises `CanonicalizationFailed` and nothing else for values JCS cannot represent.
    """
    if _fast_path_applies(obj):
        try:
            return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate or nesting deeper than orjson allows: the slow path decides
    try:
        # The library is typed for JSON values only; anything else is exactly what we catch below.
        return rfc8785.dumps(obj)  # type: ignore[arg-type]
    # ValueError covers rfc8785.CanonicalizationError and its subclasses, plus the
    # UnicodeEncodeError the library lets escape when it sorts a key holding a lone surrogate.
    # RecursionError: nesting deeper than the interpreter allows is just as unrepresentable here.
    except (ValueError, RecursionError) as exc:
        reason = str(exc)[:_MAX_REASON] or type(exc).__name__
        raise CanonicalizationFailed(
            f"value has no RFC 8785 canonical JSON form: {reason}"
        ) from exc


_MAX_SAFE = 2**53 - 1
_MIN_PLAIN, _MAX_PLAIN = 1e-4, 1e15


def _fast_path_applies(obj: object) -> bool:
    """True when `orjson` with sorted keys gives exactly the RFC 8785 bytes of `obj`."""
    stack: list[object] = [obj]
    while stack:
        node = stack.pop()
        if node is None or type(node) is str or type(node) is bool:
            continue
        if type(node) is int:
            if not -_MAX_SAFE <= node <= _MAX_SAFE:
                return False
        elif type(node) is float:
            size = abs(node)  # NaN and the infinities fail the range test
            if not _MIN_PLAIN <= size < _MAX_PLAIN or size.is_integer():
                return False
        elif type(node) is dict:
            for key, value in node.items():
                if type(key) is not str or not key.isascii():
                    return False
                stack.append(value)
        elif type(node) is list or type(node) is tuple:
            stack.extend(node)
        else:
            return False  # subclasses, anything else JCS may format or refuse differently
    return True


def sha256_hex(obj: object) -> str:
    """Lowercase hex SHA-256 of `canonical_bytes(obj)`: LOOP's record and payload hash."""
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()
