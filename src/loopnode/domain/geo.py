"""Great-circle distance and radius tests that a database index can use.

LOOP measures search radii (DECISIONS 26) and flooding radii (DECISIONS 21) in kilometres on the
Earth's surface. `haversine_km` is the reference. For SQL, "within radius" becomes a dot product:
store each point's `unit_vector` (x, y, z) and keep rows with `x*x0 + y*y0 + z*z0 >= t`, where
`t = chord_threshold(radius_km)` is the cosine of the radius' central angle. That needs only
arithmetic (portable to SQLite and PostgreSQL) and agrees with haversine to about 0.1 m (cos is
flat near 0, so tiny angles lose precision; a radius of 0 may even miss the point itself).
`bounding_box` gives latitude/longitude bounds to pre-filter with ordinary B-tree indexes; it is
conservative: it may include points outside the radius, never excludes one inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from loopnode.domain.errors import InvalidRequest

__all__ = [
    "EARTH_RADIUS_KM",
    "BoundingBox",
    "bounding_box",
    "chord_threshold",
    "dot",
    "haversine_km",
    "unit_vector",
    "within_radius",
]

# IUGG mean Earth radius.
EARTH_RADIUS_KM: Final = 6371.0088

# Widens bounding boxes by about a metre: more than the rounding of the dot-product test (~0.1 m
# near a zero angle, where cos is flat), so the box never drops a point that test would keep.
_BOX_MARGIN_DEG: Final = 1e-5

Vector = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Inclusive latitude/longitude bounds in degrees; `min_lon <= max_lon` always holds.

    A box that would wrap around the antimeridian or reach a pole spans all longitudes.
    """

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    _check_point(lat1, lon1)
    _check_point(lat2, lon2)
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    # Rounding can push `a` a hair above 1 for antipodal points.
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def unit_vector(lat: float, lon: float) -> Vector:
    """The point as a unit vector from the Earth's centre (x to 0°N 0°E, z to the north pole)."""
    _check_point(lat, lon)
    phi, lam = math.radians(lat), math.radians(lon)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


def dot(a: Vector, b: Vector) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def chord_threshold(radius_km: float) -> float:
    """`cos(radius / R)`: two unit vectors are within the radius iff their dot product is >= it.

    A radius of half the circumference or more covers the globe, so the threshold is then -1.
    """
    _check_radius(radius_km)
    angle = radius_km / EARTH_RADIUS_KM
    return -1.0 if angle >= math.pi else math.cos(angle)


def within_radius(lat1: float, lon1: float, lat2: float, lon2: float, radius_km: float) -> bool:
    """The dot-product test, as the database would run it."""
    return dot(unit_vector(lat1, lon1), unit_vector(lat2, lon2)) >= chord_threshold(radius_km)


def bounding_box(lat: float, lon: float, radius_km: float) -> BoundingBox:
    """Bounds containing every point within `radius_km` of (lat, lon).

    Follows J. P. Matuschek, "Finding Points Within a Distance of a Latitude/Longitude Using
    Bounding Coordinates": the latitude range is exact; the longitude half-width is the widest the
    circle gets, asin(sin(r) / cos(lat)). If the circle reaches a pole every longitude is inside;
    if it crosses the antimeridian the box spans all longitudes rather than two ranges, so that the
    caller's SQL stays a single BETWEEN (a rare case, given where LOOP nodes are).
    """
    _check_point(lat, lon)
    _check_radius(radius_km)
    angle = math.degrees(radius_km / EARTH_RADIUS_KM)
    min_lat = lat - angle - _BOX_MARGIN_DEG
    max_lat = lat + angle + _BOX_MARGIN_DEG
    if min_lat <= -90.0 or max_lat >= 90.0:
        return BoundingBox(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)
    half_width = math.degrees(
        math.asin(min(1.0, math.sin(math.radians(angle)) / math.cos(math.radians(lat))))
    )
    min_lon = lon - half_width - _BOX_MARGIN_DEG
    max_lon = lon + half_width + _BOX_MARGIN_DEG
    if min_lon < -180.0 or max_lon > 180.0:
        return BoundingBox(min_lat, max_lat, -180.0, 180.0)
    return BoundingBox(min_lat, max_lat, min_lon, max_lon)


def _check_point(lat: float, lon: float) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise InvalidRequest(
            f"({lat}, {lon}) is not a latitude in -90..90 and longitude in -180..180"
        )


def _check_radius(radius_km: float) -> None:
    if not (radius_km >= 0 and math.isfinite(radius_km)):
        raise InvalidRequest(f"radius {radius_km} km must be a finite number >= 0")
