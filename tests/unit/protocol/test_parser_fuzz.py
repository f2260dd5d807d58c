"""Fuzzing of the two parsers that read hostile bytes before anything is trusted (issue 15
item 8): signed node-to-node requests and core-dp envelopes. Whatever arrives, they answer
with a documented refusal, never an unexpected exception, and no single change to a valid
message is ever accepted."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopnode.domain.errors import LoopError
from loopnode.protocol import request_signing as rs
from loopnode.protocol.coredp import envelope as env
from tests.unit.protocol.coredp.conftest import CREATED, our_trust, signed_offer_publish
from tests.unit.protocol.test_request_signing import BODY, PATH, RECEIVER, signed, store, verify

FUZZ = settings(max_examples=300, derandomize=True, suppress_health_check=list(HealthCheck))

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(["", "\x00", "\ud800", "2026-07-17T00:00:00Z", "munich.loop", "a" * 5000])
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=25,
)


@FUZZ
@given(
    method=st.text(max_size=10),
    path=st.text(max_size=60),
    body=st.binary(max_size=200),
    headers=st.dictionaries(
        st.sampled_from([*rs.SIGNED_HEADERS, *(h.upper() for h in rs.SIGNED_HEADERS), "X"]),
        st.text(max_size=200),
        max_size=8,
    ),
)
def test_any_request_is_refused_only_with_documented_errors(
    method: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    with contextlib.suppress(rs.RequestSignatureError, rs.BadTimestamp):
        verify(headers, method=method, path_with_query=path, body=body)


@FUZZ
@given(
    field=st.sampled_from(["method", "path", "body", "receiver", *rs.SIGNED_HEADERS]),
    replacement=st.text(max_size=80),
)
def test_no_single_change_to_a_signed_request_is_accepted(field: str, replacement: str) -> None:
    headers = signed()
    arguments: dict[str, Any] = {
        "method": "POST",
        "path_with_query": PATH,
        "body": BODY,
        "receiver_node_id": RECEIVER,
    }
    original = {**headers, **arguments}
    if field in rs.SIGNED_HEADERS:
        headers[field] = replacement
    elif field == "method":
        arguments["method"] = replacement
    elif field == "path":
        arguments["path_with_query"] = replacement
    elif field == "body":
        arguments["body"] = replacement.encode()
    else:
        arguments["receiver_node_id"] = replacement
    changed = {**headers, **arguments} != original
    if field == "method":  # methods are compared upper-cased, as HTTP servers see them
        changed = replacement.upper() != "POST"
    try:
        verify(headers, trust=store(), **arguments)
    except (rs.RequestSignatureError, rs.BadTimestamp):
        return
    assert not changed, (field, replacement)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@FUZZ
@given(document=json_values)
def test_any_json_is_judged_never_raised(document: Any) -> None:
    verdict = env.verify_envelope(document, our_trust(), CREATED)
    assert not verdict.accepted
    assert verdict.error_code is not None


@FUZZ
@given(data=st.data())
def test_no_change_anywhere_in_a_signed_envelope_is_accepted(data: st.DataObject) -> None:
    original = signed_offer_publish()
    envelope: Any = copy.deepcopy(original)
    path = data.draw(st.sampled_from(_paths(envelope)))
    parent = envelope
    for step in path[:-1]:
        parent = parent[step]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(json_values)
    try:
        verdict = env.verify_envelope(envelope, our_trust(), CREATED)
    except LoopError as exc:  # pragma: no cover - the verdict API never raises
        raise AssertionError(f"raised {exc!r}") from exc
    same = json.dumps(envelope, sort_keys=True) == json.dumps(original, sort_keys=True)
    assert verdict.accepted == same or not verdict.accepted, path
    if verdict.accepted:
        assert same, path
