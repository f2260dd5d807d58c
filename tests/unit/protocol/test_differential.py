"""Differential tests: our verdict equals AJV's on generated mutations of valid payloads.

For each entity family, hypothesis mutates the official examples and the hand-built seeds
(`seeds.py`) and asks both validators. The expected verdict always comes from the oracle (AJV 8 +
ajv-formats 3 on the official schemas), never from our code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings

from loopnode.protocol.validation import ENTITY_MODELS, check_payload

from . import seeds
from .mutations import mutants, schema_vocabulary

MUTATIONS_PER_FAMILY = 320


@dataclass(frozen=True)
class Family:
    schema: str  # the oracle's schema name
    types: tuple[str, ...]  # the `@type` values the schema admits (empty: no `@type`)
    seeds: tuple[dict[str, Any], ...]


FAMILIES = {
    "MaterialDNA": Family("material-dna", ("MaterialDNA",), (seeds.MATERIAL,)),
    "ProductDNA": Family("product-dna", ("ProductDNA",), (seeds.PRODUCT,)),
    "Offer": Family("offer", ("Offer",), (seeds.OFFER,)),
    "Match": Family("match", ("Match",), (seeds.MATCH,)),
    "Transfer": Family("transfer", ("Transfer",), (seeds.TRANSFER,)),
    "MaterialStatusUpdate": Family(
        "material-status", ("MaterialStatusUpdate",), (seeds.MATERIAL_STATUS,)
    ),
    "handshake": Family(
        "handshake",
        ("NodeHandshake", "NodeHandshakeResponse"),
        (seeds.HANDSHAKE, seeds.HANDSHAKE_RESPONSE),
    ),
    "federate-accepted": Family("federate-accepted", (), (seeds.FEDERATE_ACCEPTED,)),
    "loopcoin": Family(
        "loopcoin",
        ("LoopCoinConfig", "LoopCoinTransfer", "InterNodeSettlement"),
        (seeds.LOOPCOIN_CONFIG, seeds.LOOPCOIN_TRANSFER, seeds.SETTLEMENT_BATCH),
    ),
    "loopsignal": Family(
        "loopsignal",
        ("LoopSignalConfig", "LoopVote", "SignalProposal"),
        (seeds.SIGNAL_CONFIG, seeds.SIGNAL_PROPOSAL),
    ),
    "transaction": Family(
        "transaction",
        ("MaterialTransaction", "Settlement", "TransactionStatus"),
        (seeds.SETTLEMENT, seeds.TRANSACTION_STATUS),
    ),
    "node-info": Family(
        "node-info",
        ("NodeInfo", "NodeRegistry", "NodeStatus"),
        (seeds.NODE_INFO, seeds.NODE_REGISTRY, seeds.NODE_STATUS),
    ),
    "MaterialAnnouncement": Family(
        "MaterialAnnouncement", ("MaterialAnnouncement",), (seeds.ANNOUNCEMENT,)
    ),
    "MaterialOffer": Family("MaterialOffer", ("MaterialOffer",), (seeds.MATERIAL_OFFER,)),
}


def our_verdict(family: Family) -> Callable[[Any], bool]:
    """Our validator's answer for "is this payload valid against the family's schema"."""
    if family.schema in ("MaterialAnnouncement", "MaterialOffer"):
        # The openapi components leave `@type` free, so validate with the model directly.
        model = ENTITY_MODELS[family.types[0]]

        def component(payload: Any) -> bool:
            try:
                model.model_validate(payload)
            except ValueError:
                return False
            return True

        return component
    if not family.types:
        return lambda payload: check_payload(payload, "FederateAcceptedResponse") == []
    return lambda payload: (
        isinstance(payload, dict)
        and payload.get("@type") in family.types
        and check_payload(payload) == []
    )


def family_seeds(family: Family, examples: dict[str, Any]) -> list[dict[str, Any]]:
    entities = [e for doc in examples.values() for e in (doc if isinstance(doc, list) else [doc])]
    if family.types:
        official = [e for e in entities if e.get("@type") in family.types]
    else:
        official = [e for e in entities if "@type" not in e]
    return [*official, *family.seeds]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_seeds_are_valid_for_ajv_and_for_us(name: str, oracle: Any, examples: dict[str, Any]):
    family = FAMILIES[name]
    ours = our_verdict(family)
    for seed in family_seeds(family, examples):
        assert oracle.verdict(family.schema, seed), seed
        assert ours(seed), seed


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_verdict_matches_ajv_on_mutations(
    name: str, oracle: Any, examples: dict[str, Any], reference: Path
):
    family = FAMILIES[name]
    ours = our_verdict(family)

    @settings(
        max_examples=MUTATIONS_PER_FAMILY,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutants(family_seeds(family, examples), schema_vocabulary(reference)))
    def check(payload: Any) -> None:
        expected = oracle.verdict(family.schema, payload)
        event(f"AJV says {'valid' if expected else 'invalid'}")
        assert ours(payload) == expected, oracle.result(family.schema, payload)["errors"]

    check()
