"""Quantities: exact Decimal conversion within a dimension, refusal across dimensions."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.quantities import (
    Dimension,
    Quantity,
    Unit,
    compare,
    convert,
    dimension,
    quantity_from_json,
    same_dimension,
    to_base,
    to_decimal,
    total,
)

MASS = [Unit.G, Unit.KG, Unit.T]
VOLUME = [Unit.ML, Unit.L, Unit.M3]
CONVERTIBLE = [*MASS, *VOLUME, Unit.PIECE, Unit.BUNDLE]
CROSS_DIMENSION = [(a, b) for a in CONVERTIBLE for b in CONVERTIBLE if dimension(a) != dimension(b)]

values = st.decimals(min_value=0, max_value=Decimal("1e12"), places=6, allow_nan=False)


def q(value: str, unit: str) -> Quantity:
    return Quantity(Decimal(value), Unit(unit))


@pytest.mark.parametrize(
    ("quantity", "base"),
    [
        (q("1500", "g"), q("1.5", "kg")),
        (q("2.5", "t"), q("2500", "kg")),
        (q("750", "ml"), q("0.75", "l")),
        (q("1.2", "m3"), q("1200", "l")),
        (q("12", "piece"), q("12", "piece")),
        (q("3", "bundle"), q("3", "bundle")),
    ],
)
def test_to_base_converts_to_kg_l_piece_or_bundle(quantity: Quantity, base: Quantity) -> None:
    converted = to_base(quantity)

    assert converted.unit == base.unit
    assert converted.value == base.value


def test_conversion_is_exact_where_floats_are_not() -> None:
    assert convert(q("0.1", "t"), "g").value == Decimal("100000")
    assert total([q("0.1", "t"), q("0.2", "t")], "t").value == Decimal("0.3")
    assert 0.1 + 0.2 != 0.3


@pytest.mark.parametrize(("a", "b"), CROSS_DIMENSION)
def test_cross_dimension_conversion_is_invalid_request(a: Unit, b: Unit) -> None:
    with pytest.raises(InvalidRequest, match="cannot compare or convert"):
        convert(Quantity(Decimal(1), a), b)
    with pytest.raises(InvalidRequest):
        compare(Quantity(Decimal(1), a), Quantity(Decimal(1), b))
    assert not same_dimension(Quantity(Decimal(1), a), Quantity(Decimal(1), b))


def test_pieces_and_bundles_are_separate_dimensions() -> None:
    assert dimension("piece") == Dimension.PIECE
    assert dimension("bundle") == Dimension.BUNDLE
    with pytest.raises(InvalidRequest):
        total([q("1", "piece"), q("1", "bundle")], "piece")


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1000, Decimal("1000")),
        (0.1, Decimal("0.1")),
        (1e16, Decimal("1E+16")),
        (800.0, Decimal("800.0")),
        (Decimal("12.50"), Decimal("12.50")),
        (0, Decimal(0)),
    ],
)
def test_json_numbers_become_exact_decimals_from_their_text(
    number: object, expected: Decimal
) -> None:
    value = to_decimal(number)

    assert value == expected
    assert str(value) == str(expected)


@pytest.mark.parametrize(
    "number",
    [True, None, "12", -1, -0.5, math.nan, math.inf, Decimal("NaN"), Decimal("1e999"), 10**40],
)
def test_non_numbers_negative_or_absurd_values_are_refused(number: object) -> None:
    with pytest.raises(InvalidRequest):
        to_decimal(number)


def test_quantity_from_json_reads_the_schema_shape() -> None:
    assert quantity_from_json({"value": 800, "unit": "kg"}) == Quantity(Decimal(800), Unit.KG)


@pytest.mark.parametrize(
    "obj",
    [{"value": 1, "unit": "lb"}, {"value": 1}, {"unit": "kg"}, {"value": "1", "unit": "kg"}],
)
def test_malformed_json_quantity_is_invalid_request(obj: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest):
        quantity_from_json(obj)


def test_quantity_refuses_floats_negative_values_and_unknown_units() -> None:
    with pytest.raises(InvalidRequest):
        Quantity(0.5, Unit.KG)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        Quantity(Decimal(-1), Unit.KG)
    with pytest.raises(InvalidRequest):
        Quantity(Decimal(1), "lb")  # type: ignore[arg-type]


def test_quantity_accepts_unit_strings_and_normalises_them_to_unit() -> None:
    assert Quantity(Decimal(1), "kg").unit is Unit.KG  # type: ignore[arg-type]


def test_offer_sum_against_available_quantity_after_unit_conversion() -> None:
    offers = [q("0.5", "t"), q("300", "kg"), q("200000", "g")]

    assert compare(total(offers, "kg"), q("1000", "kg")) == 0
    assert compare(total([*offers, q("1", "g")], "kg"), q("1", "t")) == 1


@given(values, st.sampled_from(MASS), st.sampled_from(MASS))
def test_mass_round_trip_is_exact(value: Decimal, start: Unit, via: Unit) -> None:
    original = Quantity(value, start)

    back = convert(convert(original, via), start)

    assert back.value == original.value
    assert compare(back, original) == 0


@given(values, st.sampled_from(VOLUME), st.sampled_from(VOLUME))
def test_volume_round_trip_is_exact(value: Decimal, start: Unit, via: Unit) -> None:
    original = Quantity(value, start)

    assert convert(convert(original, via), start).value == original.value


@given(values, st.sampled_from(CONVERTIBLE), values, st.sampled_from(CONVERTIBLE))
def test_ordering_matches_base_values_and_survives_conversion(
    a_value: Decimal, a_unit: Unit, b_value: Decimal, b_unit: Unit
) -> None:
    a, b = Quantity(a_value, a_unit), Quantity(b_value, b_unit)
    if not same_dimension(a, b):
        with pytest.raises(InvalidRequest):
            compare(a, b)
        return
    expected = (to_base(a).value > to_base(b).value) - (to_base(a).value < to_base(b).value)

    assert compare(a, b) == expected
    assert compare(convert(a, b.unit), b) == expected
    assert compare(b, a) == -expected


@given(st.lists(st.tuples(values, st.sampled_from(MASS)), max_size=20), st.sampled_from(MASS))
def test_total_is_unit_independent(items: list[tuple[Decimal, Unit]], unit: Unit) -> None:
    quantities = [Quantity(value, item_unit) for value, item_unit in items]

    in_unit = total(quantities, unit)
    in_kg = total(quantities, Unit.KG)

    assert compare(in_unit, in_kg) == 0
    assert in_kg.value == sum((to_base(x).value for x in quantities), Decimal(0))


@given(st.just(0.0) | st.floats(min_value=1e-9, max_value=1e15))
def test_float_json_values_keep_their_shortest_decimal_text(number: float) -> None:
    assert float(to_decimal(number)) == number


@pytest.mark.parametrize("number", [1e-38, 1e31, Decimal("1." + "1" * 40)])
def test_magnitudes_beyond_any_consignment_are_refused_not_rounded(number: object) -> None:
    with pytest.raises(InvalidRequest, match="magnitude"):
        to_decimal(number)
