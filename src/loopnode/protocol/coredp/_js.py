"""JavaScript value semantics for porting the upstream harness's rule checks exactly.

The conformance vectors were judged by JS code, and invalid payloads reach the rule checks
with missing keys, nulls and odd types. These helpers reproduce `obj?.key` (a missing key is
`MISSING`, distinct from JSON `null`), JS truthiness (`[]` and `{}` are truthy), `===` and
template-literal interpolation, so our failure texts and verdicts match for any payload.
"""

from __future__ import annotations

import math
from typing import Any, Final


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"


MISSING: Final[Any] = _Missing()


def get(obj: object, *keys: str) -> Any:
    """`obj?.k1?.k2...`: MISSING as soon as a step is absent or not an object."""
    for key in keys:
        if not isinstance(obj, dict) or key not in obj:
            return MISSING
        obj = obj[key]
    return obj


def truthy(value: object) -> bool:
    if value is MISSING or value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def strict_eq(left: object, right: object) -> bool:
    """`left === right` for JSON values: objects and arrays only equal themselves."""
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return left is right
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if left is MISSING or right is MISSING or left is None or right is None:
        return left is right
    return (type(left) is type(right) or _both_numbers(left, right)) and left == right


def _both_numbers(left: object, right: object) -> bool:
    return isinstance(left, int | float) and isinstance(right, int | float)


def text(value: object) -> str:
    """`${value}` in a JS template literal."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, list):
        return ",".join("" if item is None else text(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)
