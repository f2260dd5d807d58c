"""The profile rules beyond the schemas: DNA, search, errors, EPCIS, evidence, regulatory."""

from __future__ import annotations

from typing import Any

import pytest

from loopnode.protocol import regulatory
from loopnode.protocol.coredp import dna_rules, epcis, errors, evidence_rules, search_rules
from loopnode.protocol.coredp.schemas import schema

MAT = "MAT-DE-MUC-2026-PLASTIC-A1B2C3"


def dna(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_type": "material.read",
        "operation": "read_result",
        "entity_type": "material",
        "request_id": "req_materialRead00000001",
        "record_id": MAT,
        "record": {"@type": "MaterialDNA", "id": MAT},
        "result": {"status": "found", "provenance": {}},
    }
    body.update(changes)
    return body


def test_a_consistent_dna_read_result_passes() -> None:
    assert dna_rules.check_dna_operation(dna()) == []


@pytest.mark.parametrize(
    ("changes", "failure"),
    [
        (
            {"operation": "register_result"},
            "DNA operation register_result does not match message_type material.read.",
        ),
        (
            {"entity_type": "product"},
            "DNA operation entity_type product does not match message_type material.read.",
        ),
        (
            {"record_id": "MAT-1"},
            "DNA operation record_id MAT-1 does not match material id pattern.",
        ),
        ({"record_id": MAT + "\n"}, "does not match material id pattern."),
        (
            {"record": {"@type": "MaterialDNA", "id": MAT + "X"}},
            "DNA operation record_id must match record.id.",
        ),
        (
            {"record": {"@type": "ProductDNA", "id": MAT}},
            "DNA operation record @type must be MaterialDNA.",
        ),
        ({"record": None}, "DNA operation read_result with found status must include the record."),
        (
            {"result": {"status": "not_found", "errors": [{}]}},
            "DNA operation read_result status not_found must not include a record.",
        ),
        (
            {"result": {"status": "error"}},
            "DNA operation result status error must include Core-DP error details.",
        ),
        (
            {"result": {"status": "found", "errors": [{}]}},
            "DNA operation result status found must not include errors.",
        ),
    ],
)
def test_dna_rules_report_each_inconsistency(changes: dict[str, Any], failure: str) -> None:
    assert any(failure in f for f in dna_rules.check_dna_operation(dna(**changes)))


def test_product_ids_follow_the_product_pattern() -> None:
    body = dna(message_type="product.read", entity_type="product", record_id="PRD-ABC", record=None)
    body["result"] = {"status": "not_found", "errors": [{}]}
    assert dna_rules.check_dna_operation(body) == [
        "DNA operation record_id PRD-ABC does not match product id pattern."
    ]


@pytest.mark.parametrize(
    ("body", "failure"),
    [
        (
            {"scope": "cross-node", "auth": {"mode": "bearer"}},
            "cross-node search must use node-signature auth.",
        ),
        ({"scope": "cross-node"}, "cross-node search must use node-signature auth."),
        (
            {"entity_type": "material", "strict_filtering": True, "filters": {"condition": "good"}},
            "strict material search must reject condition filter.",
        ),
        (
            {
                "entity_type": "material",
                "results": [{"id": "PRD-X"}],
                "consistency": {"mode": "eventual"},
            },
            "material search result 0 id must use MAT- prefix.",
        ),
        (
            {"entity_type": "product", "results": [{"id": "PRD-1"}, {"id": "MAT-1"}]},
            "product search result 1 id must use PRD- prefix.",
        ),
        (
            {
                "entity_type": "product",
                "results": [{"id": "PRD-1"}],
                "consistency": {"mode": "snapshot"},
            },
            "snapshot search response must include snapshot_id.",
        ),
    ],
)
def test_search_rules(body: dict[str, Any], failure: str) -> None:
    assert failure in search_rules.check_search_contract(body)


def test_search_rules_leave_lenient_requests_alone() -> None:
    assert (
        search_rules.check_search_contract(
            {"entity_type": "material", "filters": {"condition": "good"}, "strict_filtering": False}
        )
        == []
    )
    # A request's consistency is a plain mode string; only responses name snapshots.
    assert (
        search_rules.check_search_contract({"entity_type": "product", "consistency": "snapshot"})
        == []
    )
    # An empty result list is still a response (JS: `[]` is truthy).
    assert search_rules.check_search_contract(
        {"entity_type": "product", "results": [], "consistency": {"mode": "snapshot"}}
    ) == ["snapshot search response must include snapshot_id."]


@pytest.mark.parametrize(
    ("code", "retryable", "failure"),
    [
        (
            "unsupported_profile_version",
            True,
            "unsupported_profile_version errors are not retryable",
        ),
        ("signature_invalid", True, "signature_invalid errors are not retryable"),
        ("timeout", False, "timeout errors must be retryable."),
    ],
)
def test_error_retry_semantics(code: str, retryable: bool, failure: str) -> None:
    body = {"code": code, "retryable": retryable}
    assert any(failure in f for f in errors.check_error_contract(body))
    assert errors.check_error_contract({**body, "retryable": not retryable}) == []


def test_error_bodies_are_schema_valid_with_default_retry_semantics() -> None:
    for code in sorted(errors.ERROR_CODES):
        body = errors.error_body(code, "x" * 600, "msg_0123456789abcdefgh")  # type: ignore[arg-type]
        assert schema("error.schema.json").issues(body) == []
        assert errors.check_error_contract(body) == []
        assert body["retryable"] == (code in {"timeout", "partition", "internal_error"})
    with pytest.raises(ValueError, match="unknown"):
        errors.error_body("teapot", "m", "msg_0123456789abcdefgh")  # type: ignore[arg-type]


def test_epcis_rules() -> None:
    assert epcis.check_epcis_mapping({"full_epcis_conformance_claimed": True}) == [
        "Core-DP EPCIS metadata must not claim full EPCIS conformance."
    ]
    mapping = {
        "core_dp_mapping": {"subject_type": "transfer", "subject_id": "TRF-1"},
        "epcis_subset_event": {"epcList": [epcis.epc_urn("transfer", "TRF-1")]},
    }
    assert epcis.check_epcis_mapping(mapping) == []
    mapping["epcis_subset_event"]["epcList"] = ["urn:loop:transfer:TRF-2"]
    assert epcis.check_epcis_mapping(mapping) == [
        "EPCIS epcList must include mapped Core-DP subject urn:loop:transfer:TRF-1."
    ]


def test_evidence_immutable_subset_must_repeat_the_top_level_values() -> None:
    entry = {
        "event_id": "evt_a",
        "sequence": 7,
        "event_type": "registered",
        "payload_hash_sha256": "a" * 64,
        "subject": {"type": "material", "id": MAT},
    }
    good = {**entry, "immutable": {**entry, "subject": {"id": MAT, "type": "material"}}}
    assert evidence_rules.check_immutable_subset(good) == []
    bad = {
        **entry,
        "immutable": {**entry, "sequence": 7.5, "subject": {"type": "product", "id": MAT}},
    }
    assert evidence_rules.check_immutable_subset(bad) == [
        "immutable.sequence must match top-level sequence.",
        "immutable.subject must match top-level subject.",
    ]


def test_battery_category_rule() -> None:
    battery = {
        "@type": "MaterialDNA",
        "category": "metal-steel",
        "classification": {"battery_category": "ev"},
    }
    [failure] = regulatory.check_battery_category(battery)
    assert (
        'classification.battery_category is set ("ev") but category is "metal-steel", '
        'not "ewaste-batteries"' in failure
    )
    assert regulatory.check_battery_category({**battery, "category": "ewaste-batteries"}) == []
    assert regulatory.check_battery_category({**battery, "@type": "ProductDNA"}) == []
    assert (
        regulatory.check_battery_category({"@type": "MaterialDNA", "category": "metal-steel"}) == []
    )


def test_ppwr_reusable_category_rule() -> None:
    product = {
        "@type": "ProductDNA",
        "product_category": "furniture-office",
        "passport": {"supported_regimes": ["ppwr"]},
    }
    [failure] = regulatory.check_ppwr_reusable_category(product)
    assert 'but product_category is "furniture-office", not "packaging-reusable"' in failure
    assert (
        regulatory.check_ppwr_reusable_category(
            {**product, "product_category": "packaging-reusable"}
        )
        == []
    )
    assert regulatory.check_ppwr_reusable_category({**product, "@type": "MaterialDNA"}) == []
    assert regulatory.check_ppwr_reusable_category({**product, "passport": {}}) == []


def test_waste_shipment_public_tier_rule() -> None:
    transfer = {
        "@type": "Transfer",
        "waste_shipment_doc_ref": "https://x.example/n/1",
        "passport": {"visible_to": "public"},
    }
    [failure] = regulatory.check_waste_shipment_not_public(transfer)
    assert 'passport.visible_to is "public"' in failure
    assert (
        regulatory.check_waste_shipment_not_public(
            {**transfer, "passport": {"visible_to": "operator"}}
        )
        == []
    )
    assert (
        regulatory.check_waste_shipment_not_public(
            {k: v for k, v in transfer.items() if k != "passport"}
        )
        == []
    )
    assert (
        regulatory.check_waste_shipment_not_public({**transfer, "waste_shipment_doc_ref": ""}) == []
    )
