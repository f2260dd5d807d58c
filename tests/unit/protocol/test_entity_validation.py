"""The public validation API: dispatch by `@type`, pointers, messages, value preservation.

Verdicts on named cases are AJV's (see the comments); the mutation tests cover them broadly.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from loopnode.domain.errors import Issue, ValidationFailed
from loopnode.protocol import models
from loopnode.protocol.validation import (
    ENTITY_MODELS,
    check_document,
    check_payload,
    json_pointer,
    validate_entity,
)

from . import seeds


def _with(seed: dict[str, Any], **changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(seed)
    payload.update(changes)
    return payload


def _pointers(issues: list[Issue]) -> list[str]:
    return [issue.pointer for issue in issues]


def test_entity_models_cover_every_definition_and_component() -> None:
    assert set(ENTITY_MODELS) == {
        "MaterialDNA", "ProductDNA", "Offer", "Match", "Transfer", "MaterialStatusUpdate",
        "NodeHandshake", "NodeHandshakeResponse", "FederateAcceptedResponse", "LoopCoinConfig",
        "LoopCoinTransfer", "InterNodeSettlement", "LoopSignalConfig", "LoopVote",
        "SignalProposal", "MaterialTransaction", "Settlement", "TransactionStatus", "NodeInfo",
        "NodeRegistry", "NodeStatus", "MaterialAnnouncement", "MaterialOffer",
    }  # fmt: skip
    assert ENTITY_MODELS["MaterialDNA"] is models.MaterialDNA


def test_valid_payload_has_no_issues_and_validates_to_its_model() -> None:
    assert check_payload(seeds.MATERIAL) == []
    entity = validate_entity(seeds.MATERIAL, "MaterialDNA")
    assert isinstance(entity, models.MaterialDNA)
    assert entity.id == "MAT-DE-MUC-2025-PLASTIC-B847F3"


def test_dispatch_is_by_type() -> None:
    assert isinstance(validate_entity(seeds.HANDSHAKE_RESPONSE), models.NodeHandshakeResponse)
    assert isinstance(validate_entity(seeds.SETTLEMENT), models.Settlement)


@pytest.mark.parametrize(
    ("payload", "message_part"),
    [
        ({"id": "x"}, "is required"),
        ({"@type": "Unicorn"}, "unknown entity type 'Unicorn'"),
        ({"@type": 7}, "unknown entity type 7"),
        ({"@type": "FederateAcceptedResponse", "status": "accepted", "id": 1}, "unknown"),
    ],
)
def test_missing_or_unknown_type_is_an_issue_at_type(payload: Any, message_part: str) -> None:
    [issue] = check_payload(payload)
    assert issue.pointer == "/@type"
    assert message_part in issue.message


@pytest.mark.parametrize("payload", [None, [], "MaterialDNA", 3])
def test_non_object_payload_is_an_issue_at_root(payload: Any) -> None:
    assert check_payload(payload) == [Issue("", "must be a JSON object")]


def test_expected_type_must_match() -> None:
    [issue] = check_payload(seeds.OFFER, expected_type="Match")
    assert issue == Issue("/@type", "must be 'Match', not 'Offer'")
    assert check_payload(seeds.OFFER, expected_type="Offer") == []


def test_unknown_expected_type_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        check_payload(seeds.OFFER, expected_type="Nope")


def test_validate_entity_raises_validation_failed_with_every_issue() -> None:
    payload = _with(seeds.MATERIAL, quantity={"value": -1}, category="plastic")
    with pytest.raises(ValidationFailed) as caught:
        validate_entity(payload)
    assert _pointers(caught.value.issues) == ["/category", "/quantity/value", "/quantity/unit"]
    assert caught.value.code == "INVALID_REQUEST"


def test_issues_carry_json_pointers_and_plain_messages() -> None:
    payload = _with(
        seeds.MATERIAL,
        quality=True,
        images=["https://example.com/a.jpg", "not a uri"],
        contact=None,
    )
    payload["passport"]["substances_of_concern"][0]["cas_number"] = "7439-92-1\n"
    del payload["traceability"]["epcis_event_refs"][0]["event_id"]
    assert check_payload(payload) == [
        Issue("/quality", "must be a number"),
        Issue("/images/1", 'must be an absolute URI (e.g. "https://example.com/x")'),
        Issue("/contact", "must not be present (personal contact details are not permitted)"),
        Issue(
            "/passport/substances_of_concern/0/cas_number",
            'must be a string matching the pattern "^\\d{1,7}-\\d{2}-\\d$"',
        ),
        Issue("/traceability/epcis_event_refs/0/event_id", "is required"),
    ]


def test_pointer_escapes_tilde_and_slash() -> None:
    assert json_pointer(("a/b", "c~d", 0)) == "/a~1b/c~0d/0"
    assert json_pointer(()) == ""


def test_closed_schema_extras_are_issues_at_the_extra_key() -> None:
    payload = _with(seeds.HANDSHAKE, **{"x/y": 1})
    payload_signals = copy.deepcopy(seeds.SIGNAL_CONFIG)
    payload_signals["signals"]["plastic"] = 0.5
    assert _pointers(check_payload(payload)) == ["/x~1y"]
    assert _pointers(check_payload(payload_signals)) == ["/signals/plastic"]
    assert "no other properties" in check_payload(payload)[0].message


def test_open_schema_extras_are_kept_unchanged() -> None:
    payload = _with(seeds.OFFER, base_price=12.5, extension={"nested": [1, None]})
    entity = validate_entity(payload)
    assert entity.model_extra == {"base_price": 12.5, "extension": {"nested": [1, None]}}
    assert entity.model_dump(by_alias=True, exclude_unset=True) == payload


def test_strings_are_kept_exactly_as_received() -> None:
    odd = "2025-05-27t10:00:00+0100"  # AJV accepts; we must not normalise it
    entity = validate_entity(_with(seeds.MATCH, matched_at=odd, to_city="Zürich\u00a0"))
    assert entity.matched_at == odd  # type: ignore[attr-defined]
    assert entity.to_city == "Zürich\u00a0"  # type: ignore[attr-defined]


def test_explicit_null_is_not_an_absent_optional_property() -> None:
    # AJV: `null` fails `type: string`; the key being present does not make it absent.
    assert _pointers(check_payload(_with(seeds.OFFER, terms=None))) == ["/terms"]
    assert check_payload(_with(seeds.OFFER, terms=None))[0].message.startswith("must be a string")


@pytest.mark.parametrize("value", [None, {}, "", 0, False, {"email": "x@y.z"}])
def test_contact_is_forbidden_whatever_its_value(value: Any) -> None:
    for seed in (seeds.MATERIAL, seeds.PRODUCT):
        assert _pointers(check_payload(_with(seed, contact=value))) == ["/contact"]


def test_node_info_contact_is_an_ordinary_object() -> None:
    assert check_payload(_with(seeds.NODE_INFO, contact={"phone": "+49"})) == []


def test_subject_is_required_alongside_other_errors() -> None:
    payload = _with(seeds.MATCH, status="done")
    del payload["product_id"]
    issues = check_payload(payload)
    assert _pointers(issues) == ["/status", ""]
    assert issues[1].message == "must have 'material_id' or 'product_id' (or both)"


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("quality", 1, True),
        ("quality", 1.0, True),
        ("quality", 1.0000001, False),
        ("quality", True, False),  # booleans are not numbers in JSON Schema
        ("quality", "0.5", False),  # nor are numeric strings
        ("quality", float("inf"), False),  # 1e400 parses to inf; above the maximum
        ("quality", 10**400, False),
    ],
)
def test_number_semantics(field: str, value: Any, valid: bool) -> None:
    assert (check_payload(_with(seeds.MATERIAL, **{field: value})) == []) is valid


@pytest.mark.parametrize(
    ("value", "valid", "stored"),
    [
        (6, True, 6),
        (6.0, True, 6),  # AJV: 6.0 is an integer; stored as the same JSON number
        (6.5, False, None),
        (True, False, None),
        (0, False, None),
        (13.0, False, None),
    ],
)
def test_integer_semantics(value: Any, valid: bool, stored: Any) -> None:
    payload = _with(seeds.LOOPCOIN_CONFIG, expiry_months=value)
    assert (check_payload(payload) == []) is valid
    if valid:
        entity = validate_entity(payload)
        assert entity.expiry_months == stored  # type: ignore[attr-defined]
        assert type(entity.expiry_months) is int  # type: ignore[attr-defined]


def test_overflowing_integer_literal_is_accepted_like_ajv() -> None:
    # `{"id": 1e400}`: JS reads Infinity, which passes AJV's integer test and `minimum: 1`.
    assert (
        check_payload({"status": "accepted", "id": float("inf")}, "FederateAcceptedResponse") == []
    )
    assert check_payload({"status": "accepted", "id": 10**400}, "FederateAcceptedResponse") == []


def test_lab_only_must_be_the_boolean_true() -> None:
    for value in (1, 1.0, "true", False):
        issues = check_payload(_with(seeds.HANDSHAKE_RESPONSE, lab_only=value))
        assert issues == [Issue("/lab_only", "must be true")]


def test_enum_message_lists_the_allowed_values() -> None:
    [issue] = check_payload(_with(seeds.OFFER, status="closed"))
    assert issue == Issue("/status", "must be 'open', 'reserved' or 'withdrawn'")


def test_array_limits_are_reported() -> None:
    too_many = _with(seeds.MATERIAL, images=["https://example.com/a.jpg"] * 11)
    none = _with(seeds.HANDSHAKE, capabilities=[])
    assert check_payload(too_many) == [Issue("/images", "must have at most 10 item(s)")]
    assert check_payload(none) == [Issue("/capabilities", "must have at least 1 item(s)")]


def test_openapi_components_take_any_type_string_when_validated_directly() -> None:
    payload = _with(seeds.ANNOUNCEMENT, **{"@type": "Whatever"})
    models.MaterialAnnouncement.model_validate(payload)
    assert check_payload(seeds.ANNOUNCEMENT) == []
    assert check_payload(seeds.MATERIAL_OFFER, "MaterialOffer") == []


def test_document_array_pointers_are_prefixed_with_the_index() -> None:
    bad = _with(seeds.OFFER, quantity={"value": 1, "unit": "lbs"})
    assert check_document([seeds.MATCH, bad]) == [
        Issue("/1/quantity/unit", "must be 'kg', 'g', 't', 'l', 'ml', 'm3', 'piece' or 'bundle'")
    ]


def test_document_recognises_a_bare_federate_accepted_response() -> None:
    assert check_document({"status": "accepted", "id": 42}) == []
    assert check_document([{"status": "accepted", "id": 0}]) == [Issue("/0/id", "must be >= 1")]
    [issue] = check_document({"status": "accepted", "id": 1, "x": 1})
    assert issue.pointer == "/@type"


def test_empty_document_array_is_an_issue() -> None:
    assert _pointers(check_document([])) == [""]
