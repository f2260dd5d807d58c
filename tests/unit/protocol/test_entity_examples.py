"""Every official example is valid for our models, and for AJV (the oracle)."""

from __future__ import annotations

from typing import Any

import pytest

from loopnode.protocol.validation import check_document, validate_entity
from tests.reference import missing_reference, reference_dir

SCHEMA_OF_TYPE = {
    "MaterialDNA": "material-dna",
    "ProductDNA": "product-dna",
    "Offer": "offer",
    "Match": "match",
    "Transfer": "transfer",
    "MaterialStatusUpdate": "material-status",
    "NodeHandshake": "handshake",
    "NodeHandshakeResponse": "handshake",
    "LoopCoinConfig": "loopcoin",
    "LoopCoinTransfer": "loopcoin",
    "InterNodeSettlement": "loopcoin",
    "LoopSignalConfig": "loopsignal",
    "LoopVote": "loopsignal",
    "SignalProposal": "loopsignal",
    "MaterialTransaction": "transaction",
    "Settlement": "transaction",
    "TransactionStatus": "transaction",
    "NodeInfo": "node-info",
    "NodeRegistry": "node-info",
    "NodeStatus": "node-info",
}


def _example_names() -> list[Any]:
    folder = reference_dir()
    if missing_reference(folder):
        return ["(reference folder absent)"]  # the `examples` fixture then skips or fails
    return sorted(path.name for path in (folder / "examples").glob("*.json"))


EXAMPLE_NAMES = _example_names()


def _entities(document: Any) -> list[dict[str, Any]]:
    return document if isinstance(document, list) else [document]


def test_all_nineteen_examples_are_present(examples: dict[str, Any]) -> None:
    assert len(examples) == 19


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_document_has_no_issues(name: str, examples: dict[str, Any]) -> None:
    assert check_document(examples[name]) == []


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_entities_round_trip_unchanged(name: str, examples: dict[str, Any]) -> None:
    for entity in _entities(examples[name]):
        expected = None if "@type" in entity else "FederateAcceptedResponse"
        model = validate_entity(entity, expected)
        assert model.model_dump(mode="json", by_alias=True, exclude_unset=True) == entity


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_oracle_agrees_that_example_is_valid(name: str, examples: dict[str, Any], oracle: Any):
    for entity in _entities(examples[name]):
        schema = SCHEMA_OF_TYPE.get(entity.get("@type", ""), "federate-accepted")
        assert oracle.verdict(schema, entity), oracle.result(schema, entity)["errors"]
