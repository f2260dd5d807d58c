"""Differential tests aimed at the §3.5 extension blocks (issue 13 item 1).

The whole-document differential tests rarely land a mutation inside `passport`,
`classification`, `traceability` or `conformity_claims`; here every mutation does. The mutated
block is put back into a valid entity and AJV (on the official schemas) decides; our validator
must agree. The official examples that carry extension data are seeds too.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from loopnode.protocol.validation import check_payload

from . import seeds
from .mutations import mutants, schema_vocabulary

BLOCKS = {
    "MaterialDNA": (
        "material-dna",
        ("passport", "classification", "traceability", "conformity_claims"),
    ),
    "ProductDNA": ("product-dna", ("passport", "traceability", "conformity_claims")),
    "Transfer": ("transfer", ("passport", "traceability")),
}
SEEDS = {"MaterialDNA": seeds.MATERIAL, "ProductDNA": seeds.PRODUCT, "Transfer": seeds.TRANSFER}
MUTATIONS = 250


def carriers(entity: str, examples: dict[str, Any]) -> list[dict[str, Any]]:
    found = [e for doc in examples.values() for e in (doc if isinstance(doc, list) else [doc])]
    official = [e for e in found if e.get("@type") == entity]
    return [d for d in [*official, SEEDS[entity]] if any(b in d for b in BLOCKS[entity][1])]


@pytest.mark.parametrize("entity", sorted(BLOCKS))
def test_extension_verdicts_match_ajv(
    entity: str, oracle: Any, examples: dict[str, Any], reference
):
    schema, blocks = BLOCKS[entity]
    documents = carriers(entity, examples)
    assert documents, f"no {entity} seed carries an extension block"
    vocabulary = schema_vocabulary(reference)
    pairs = [(doc, block) for doc in documents for block in blocks if block in doc]

    @st.composite
    def mutated(draw: st.DrawFn) -> dict[str, Any]:
        doc, block = draw(st.sampled_from(pairs))
        out = copy.deepcopy(doc)
        out[block] = draw(mutants([doc[block]], vocabulary))
        event(f"block {block}")
        return out

    @settings(
        max_examples=MUTATIONS,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutated())
    def check(payload: dict[str, Any]) -> None:
        expected = oracle.verdict(schema, payload)
        event(f"AJV says {'valid' if expected else 'invalid'}")
        assert (check_payload(payload) == []) == expected, oracle.result(schema, payload)["errors"]

    check()


@pytest.mark.parametrize("entity", sorted(BLOCKS))
def test_unknown_members_inside_extension_blocks_are_accepted_and_kept(entity: str, oracle):
    schema, blocks = BLOCKS[entity]
    doc = copy.deepcopy(SEEDS[entity])
    for block in blocks:
        value = doc.get(block)
        if isinstance(value, dict):
            value["x_city_note"] = {"kept": [1, "two"]}
    assert oracle.verdict(schema, doc)
    assert check_payload(doc) == []
