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
"""

from __future__ import annotations

import hashlib

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


def sha256_hex(obj: object) -> str:
    """Lowercase hex SHA-256 of `canonical_bytes(obj)`: LOOP's record and payload hash."""
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()
