"""Distances and radius tests: the SQL-friendly dot-product test agrees with haversine."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.geo import (
    EARTH_RADIUS_KM,
    bounding_box,
    chord_threshold,
    dot,
    haversine_km,
    unit_vector,
    within_radius,
)

MUNICH = (48.1372, 11.5755)
BERLIN = (52.52, 13.405)

lats = st.floats(min_value=-90, max_value=90, allow_nan=False)
lons = st.floats(min_value=-180, max_value=180, allow_nan=False)
radii = st.floats(min_value=0, max_value=25_000, allow_nan=False)
# Tolerance for comparing the two tests near the circle's edge (1 m).
EDGE_KM = 1e-3


def _destination(
    lat: float, lon: float, bearing_deg: float, distance_km: float
) -> tuple[float, float]:
    """A point `distance_km` from (lat, lon) along `bearing_deg` (spherical direct problem)."""
    phi, lam, theta = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    delta = distance_km / EARTH_RADIUS_KM
    phi2 = math.asin(
        math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(theta)
    )
    lam2 = lam + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi),
        math.cos(delta) - math.sin(phi) * math.sin(phi2),
    )
    lon2 = (math.degrees(lam2) + 540.0) % 360.0 - 180.0
    return math.degrees(phi2), max(-180.0, min(180.0, lon2))


def test_munich_to_berlin_is_about_504_km() -> None:
    assert haversine_km(*MUNICH, *BERLIN) == pytest.approx(504.4, abs=0.5)


def test_distance_to_self_is_zero_and_antipode_is_half_the_circumference() -> None:
    assert haversine_km(*MUNICH, *MUNICH) == 0.0
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert haversine_km(90, 0, -90, 0) == pytest.approx(math.pi * EARTH_RADIUS_KM)


def test_unit_vectors_have_length_one_and_point_at_the_poles() -> None:
    assert unit_vector(90, 123) == pytest.approx((0.0, 0.0, 1.0))
    assert unit_vector(0, 0) == pytest.approx((1.0, 0.0, 0.0))
    assert unit_vector(0, 90) == pytest.approx((0.0, 1.0, 0.0))
    assert dot(unit_vector(*MUNICH), unit_vector(*MUNICH)) == pytest.approx(1.0)


def test_threshold_is_cosine_of_central_angle_and_minus_one_beyond_the_antipode() -> None:
    assert chord_threshold(0) == 1.0
    assert chord_threshold(1000) == pytest.approx(math.cos(1000 / EARTH_RADIUS_KM))
    assert chord_threshold(math.pi * EARTH_RADIUS_KM) == -1.0
    assert chord_threshold(1e9) == -1.0


def test_berlin_is_within_600_km_of_munich_but_not_within_500() -> None:
    assert within_radius(*MUNICH, *BERLIN, 600)
    assert not within_radius(*MUNICH, *BERLIN, 500)


@pytest.mark.parametrize(
    "call",
    [
        lambda: unit_vector(91, 0),
        lambda: unit_vector(0, 180.5),
        lambda: unit_vector(math.nan, 0),
        lambda: haversine_km(0, 0, -90.1, 0),
        lambda: chord_threshold(-1),
        lambda: chord_threshold(math.inf),
        lambda: chord_threshold(math.nan),
        lambda: bounding_box(0, 0, -5),
        lambda: bounding_box(100, 0, 5),
    ],
)
def test_out_of_range_inputs_are_invalid_requests(call: object) -> None:
    assert callable(call)
    with pytest.raises(InvalidRequest):
        call()


@given(lats, lons, lats, lons, radii)
def test_dot_product_test_agrees_with_haversine_away_from_the_edge(
    lat1: float, lon1: float, lat2: float, lon2: float, radius: float
) -> None:
    distance = haversine_km(lat1, lon1, lat2, lon2)
    assume(abs(distance - radius) > EDGE_KM)

    assert within_radius(lat1, lon1, lat2, lon2, radius) == (distance < radius)


@given(lats, lons, st.floats(0, 360), st.floats(0, 20_000), st.floats(0.01, 0.99))
def test_points_inside_a_circle_pass_the_dot_product_test(
    lat: float, lon: float, bearing: float, radius: float, fraction: float
) -> None:
    assume(radius * (1 - fraction) > EDGE_KM)
    lat2, lon2 = _destination(lat, lon, bearing, radius * fraction)

    assert within_radius(lat, lon, lat2, lon2, radius)


@given(lats, lons, radii, lats, lons)
def test_bounding_box_contains_every_point_the_dot_product_test_keeps(
    lat: float, lon: float, radius: float, lat2: float, lon2: float
) -> None:
    box = bounding_box(lat, lon, radius)

    if within_radius(lat, lon, lat2, lon2, radius):
        assert box.contains(lat2, lon2)


@given(lats, lons, st.floats(0, 360), st.floats(0, 20_000))
def test_bounding_box_contains_points_on_the_circle(
    lat: float, lon: float, bearing: float, radius: float
) -> None:
    lat2, lon2 = _destination(lat, lon, bearing, radius)

    assert bounding_box(lat, lon, radius).contains(lat2, lon2)


def test_bounding_box_is_tight_in_mid_latitudes() -> None:
    box = bounding_box(*MUNICH, 100)

    assert box.max_lat - box.min_lat == pytest.approx(
        2 * math.degrees(100 / EARTH_RADIUS_KM), abs=1e-4
    )
    assert 2.0 < box.max_lon - box.min_lon < 3.0


def test_bounding_box_reaching_a_pole_spans_all_longitudes() -> None:
    box = bounding_box(89.5, 10, 100)

    assert (box.min_lon, box.max_lon, box.max_lat) == (-180.0, 180.0, 90.0)


def test_bounding_box_crossing_the_antimeridian_spans_all_longitudes() -> None:
    box = bounding_box(-17.7, 179.5, 200)

    assert (box.min_lon, box.max_lon) == (-180.0, 180.0)
    assert box.contains(-17.7, -179.5)


def test_bounding_box_of_zero_radius_still_contains_the_centre() -> None:
    assert bounding_box(*MUNICH, 0).contains(*MUNICH)
