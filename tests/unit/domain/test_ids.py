"""Id patterns and minting (DECISIONS 2 and 18)."""

from __future__ import annotations

import secrets
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.ids import (
    MATCH_PREFIX,
    OFFER_PREFIX,
    RANDOM_BYTES,
    TRANSFER_PREFIX,
    category_segment,
    is_entity_id,
    is_local_product_id,
    is_material_id,
    is_node_id,
    is_product_id,
    is_transaction_id,
    mint_entity_id,
    mint_material_id,
    mint_product_id,
    mint_transaction_id,
)

MATERIAL_CATEGORIES = [
    "plastic-pet", "plastic-hdpe", "plastic-pvc", "plastic-ldpe", "plastic-pp", "plastic-ps",
    "plastic-mixed", "metal-steel", "metal-aluminum", "metal-copper", "metal-mixed",
    "organic-food", "organic-garden", "organic-wood", "glass-clear", "glass-brown", "glass-green",
    "glass-mixed", "paper-clean", "paper-newsprint", "cardboard", "paper-mixed", "textile-cotton",
    "textile-wool", "textile-synthetic", "textile-mixed", "ewaste-computers", "ewaste-phones",
    "ewaste-batteries", "ewaste-mixed",
]  # fmt: skip
PRODUCT_CATEGORIES = [
    "furniture-office", "furniture-residential", "furniture-industrial", "building-structural",
    "building-fixture", "building-hvac", "building-electrical", "electronics-computing",
    "electronics-mobile", "electronics-appliance", "electronics-components", "textile-garment",
    "textile-industrial", "packaging-reusable", "vehicle-parts", "equipment-industrial",
    "equipment-medical",
]  # fmt: skip


@pytest.mark.parametrize(
    ("category", "segment"),
    [
        ("plastic-pet", "PLASTIC"),
        ("ewaste-batteries", "EWASTE"),
        ("furniture-office", "FURNITURE"),
        ("cardboard", "CARDBOARD"),
        ("organic-food", "ORGANIC"),
    ],
)
def test_category_segment_is_the_first_part_upper_cased(category: str, segment: str) -> None:
    assert category_segment(category) == segment


@pytest.mark.parametrize("category", MATERIAL_CATEGORIES + PRODUCT_CATEGORIES)
def test_every_schema_category_yields_a_valid_segment(category: str) -> None:
    material = mint_material_id("DE", "MUC", 2025, category, "B847F3")

    assert is_material_id(material)


@pytest.mark.parametrize("category", ["", "-pet", "3d-printing", "plaſtic-pet", "kunststoff_ü"])
def test_category_without_leading_ascii_letters_is_refused(category: str) -> None:
    with pytest.raises(InvalidRequest):
        category_segment(category)


def test_material_id_has_the_decisions_2_shape() -> None:
    assert (
        mint_material_id("DE", "MUC", 2025, "plastic-pet", "b847f3")
        == "MAT-DE-MUC-2025-PLASTIC-B847F3"
    )


def test_product_id_is_the_structured_local_form() -> None:
    minted = mint_product_id("de", "muc", 2025, "furniture-office", "F4A7B2")

    assert minted == "PRD-DE-MUC-2025-FURNITURE-F4A7B2"
    assert is_local_product_id(minted)
    assert is_product_id(minted)


def test_injected_random_source_is_called_with_a_byte_count() -> None:
    calls: list[int] = []

    def fake_token_hex(nbytes: int) -> str:
        calls.append(nbytes)
        return "ab" * nbytes

    minted = mint_material_id("DE", "MUC", 2025, "metal-steel", fake_token_hex)

    assert calls == [RANDOM_BYTES]
    assert minted == "MAT-DE-MUC-2025-METAL-" + "AB" * RANDOM_BYTES


@pytest.mark.parametrize(
    ("country", "city", "year", "random"),
    [
        ("DEU", "MUC", 2025, "B847F3"),
        ("D1", "MUC", 2025, "B847F3"),
        ("DE", "MU", 2025, "B847F3"),
        ("DE", "MÜC", 2025, "B847F3"),
        ("DE", "MUC", 10_000, "B847F3"),
        ("DE", "MUC", -1, "B847F3"),
        ("DE", "MUC", 2025, "B847F"),
        ("DE", "MUC", 2025, "B847FG"),
        ("DE", "MUC", 2025, "ﬀﬀﬀ"),
        ("ſe", "MUC", 2025, "B847F3"),
    ],
)
def test_malformed_minting_inputs_are_refused(
    country: str, city: str, year: int, random: str
) -> None:
    with pytest.raises(InvalidRequest):
        mint_material_id(country, city, year, "plastic-pet", random)


@given(
    country=st.from_regex(r"\A[A-Z]{2}\Z"),
    city=st.from_regex(r"\A[A-Z]{3}\Z"),
    year=st.integers(0, 9999),
    category=st.sampled_from(MATERIAL_CATEGORIES + PRODUCT_CATEGORIES),
    nbytes=st.integers(3, 16),
)
def test_minted_ids_always_match_their_patterns(
    country: str, city: str, year: int, category: str, nbytes: int
) -> None:
    random = secrets.token_hex(nbytes)

    assert is_material_id(mint_material_id(country, city, year, category, random))
    assert is_local_product_id(mint_product_id(country, city, year, category, random))


@pytest.mark.parametrize("prefix", [OFFER_PREFIX, MATCH_PREFIX, TRANSFER_PREFIX, "OFR-PRD"])
def test_entity_ids_are_prefix_and_uppercase_hex(prefix: str) -> None:
    minted = mint_entity_id(prefix, "2f7a6b9c")

    assert minted == f"{prefix}-2F7A6B9C"
    assert is_entity_id(minted)


def test_entity_id_with_injected_random_uses_the_byte_count() -> None:
    minted = mint_entity_id(OFFER_PREFIX, secrets.token_hex)

    assert len(minted) == len("OFR-") + 2 * RANDOM_BYTES
    assert is_entity_id(minted)


@pytest.mark.parametrize("prefix", ["", "ofr", "OFR-", "-OFR", "O_R", "OFR PRD"])
def test_malformed_entity_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(InvalidRequest):
        mint_entity_id(prefix, "2F7A6B9C")


@pytest.mark.parametrize(
    ("day", "counter", "expected"),
    [
        (date(2025, 5, 27), 1, "TXN-2025-05-27-001"),
        (date(2025, 12, 1), 42, "TXN-2025-12-01-042"),
        (date(2026, 1, 2), 12345, "TXN-2026-01-02-12345"),
    ],
)
def test_transaction_id_is_day_and_counter(day: date, counter: int, expected: str) -> None:
    minted = mint_transaction_id(day, counter)

    assert minted == expected
    assert is_transaction_id(minted)


@pytest.mark.parametrize("counter", [0, -1, True])
def test_transaction_counter_must_be_positive(counter: int) -> None:
    with pytest.raises(InvalidRequest):
        mint_transaction_id(date(2025, 5, 27), counter)


@pytest.mark.parametrize(
    ("check", "value", "expected"),
    [
        (is_material_id, "MAT-DE-MUC-2025-PLASTIC-B847F3", True),
        (is_material_id, "MAT-DE-MUC-2025-PLASTIC-B847F3\n", False),
        (is_material_id, "MAT-DE-MUC-2025-PLASTIC-b847f3", False),
        (is_material_id, "MAT-DE-MUC-25-PLASTIC-B847F3", False),
        (is_product_id, "PRD-DE-MUC-2025-DESK-F4A7B2", True),
        (is_product_id, "PRD-12345678", True),
        (is_product_id, "DE-MUC-2026-FURNITURE-CHAIR-001", False),
        (is_local_product_id, "PRD-12345678", False),
        (is_local_product_id, "PRD-DE-MUC-2025-DESK-F4A7B2", True),
        (is_entity_id, "OFR-2F7A6B9C", True),
        (is_entity_id, "OFF-DE-MUC-2026-000001", True),
        (is_entity_id, "OFR-2F7", False),
        (is_entity_id, "ofr-2f7a6b9c", False),
        (is_transaction_id, "TXN-2025-05-27-001", True),
        (is_transaction_id, "TXN-2025-05-27-01", False),
        (is_node_id, "munich.loop", True),
        (is_node_id, "lab-hub.loop", True),
        (is_node_id, "a.loop", True),
        (is_node_id, "-munich.loop", False),
        (is_node_id, "Munich.loop", False),
        (is_node_id, "munich.loop\n", False),
        (is_node_id, "sub.munich.loop", False),
        (is_node_id, "a" * 116 + ".loop", True),
        (is_node_id, "a" * 117 + ".loop", False),
    ],
)
def test_id_patterns(check: object, value: str, expected: bool) -> None:
    assert callable(check)
    assert check(value) is expected
