"""`protocol.input_limits`: what no stored value may contain, checked the same for every route."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain.errors import InvalidRequest
from loopnode.protocol.input_limits import MAX_ID_LENGTH, MAX_JSON_DEPTH, check_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def wrap(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = {"n": value}
    return value


@given(JSON, st.text(), st.text())
def test_a_nul_anywhere_is_refused(document: Any, before: str, after: str) -> None:
    poisoned = {"free": [document, before + "\x00" + after]}
    with pytest.raises(InvalidRequest):
        check_json(poisoned)


@given(JSON)
def test_values_without_nul_within_range_and_depth_pass(document: Any) -> None:
    def clean(value: Any) -> bool:
        if isinstance(value, str):
            return "\x00" not in value
        if isinstance(value, list):
            return all(clean(v) for v in value)
        if isinstance(value, dict):
            return all(clean(k) and clean(v) for k, v in value.items())
        return True

    if clean(document):
        check_json(document)


def test_depth_is_limited_exactly() -> None:
    check_json(wrap("leaf", MAX_JSON_DEPTH))
    with pytest.raises(InvalidRequest, match="deep"):
        check_json(wrap("leaf", MAX_JSON_DEPTH + 1))


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_are_refused(value: int) -> None:
    with pytest.raises(InvalidRequest):
        check_json({"quantity": {"value": value}})


def test_identifiers_fit_the_storage_column() -> None:
    check_json({"id": "x" * MAX_ID_LENGTH, "offer_id": "y" * MAX_ID_LENGTH})
    for key in ("id", "material_id"):
        with pytest.raises(InvalidRequest):
            check_json({"nested": {key: "x" * (MAX_ID_LENGTH + 1)}})
    check_json({"description": "x" * 10_000})  # free text is not an identifier


KEYS = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=5)


@given(st.lists(st.one_of(KEYS, st.integers(0, 3)), min_size=1, max_size=6))
def test_the_refusal_names_the_place_as_a_json_pointer(path: list[str | int]) -> None:
    """RFC 6901: `~` is written `~0` and `/` is written `~1`; array items by index."""
    value: Any = "bad\x00"
    for token in reversed(path):
        value = [None] * token + [value] if isinstance(token, int) else {token: value}
    escaped = (
        t.replace("~", "~0").replace("/", "~1") if isinstance(t, str) else str(t) for t in path
    )
    pointer = "".join(f"/{token}" for token in escaped)
    with pytest.raises(InvalidRequest) as refused:
        check_json(value)
    assert f"the body at {pointer[:200]!r} contains a NUL" in str(refused.value)
