"""Controlled flooding of MaterialAnnouncements (spec §9.3; DECISIONS 21): the pure rules.

Extension fields on the openapi `MaterialAnnouncement` (all optional, so peers that send none
still interoperate):

- `announcement_id`: `^[A-Za-z0-9_.:-]{8,100}$`, chosen by the origin, kept by every relay;
- `ttl`: integer 0..16; the origin sends 3; a relay forwards with `ttl - 1` and not at all when
  that is 0 (so an announcement travels at most `ttl` hops); missing means 3;
- `hop_count`: integer ≥ 1, the hops travelled when received (the origin sends 1, a relay
  forwards `hop_count + 1`); missing means 1;
- `origin_location`: `{lat, lon}` of the origin node, for the radius rule;
- `origin_key_id` and `origin_signature`: the origin's Ed25519 signature (base64url) over the
  RFC 8785 canonical JSON of the announcement without the transport fields `ttl`, `hop_count`
  and `origin_signature`. The request signature proves only the last hop; this one proves the
  origin, for every receiver that knows the origin's key.

Duplicates: the key is sha256(canonical `["id", origin, announcement_id]`) when an id is
present, else sha256(canonical `["content", origin, material, available, content]`) where
content is the announcement without transport fields, remembered for a window (so
announcements from peers that send no extension are deduplicated too). A duplicate is
dropped: not stored again, not forwarded.

Forwarding: to every approved peer except the sender, the origin and ourselves, when
`ttl - 1 > 0` and this node lies within the radius (default 1000 km) of the origin's location
(unknown location: no radius limit).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from loopnode.domain import geo
from loopnode.domain.errors import Issue, ValidationFailed
from loopnode.protocol.canonical import canonical_bytes, sha256_hex

DEFAULT_TTL: Final = 3
MAX_TTL: Final = 16
TRANSPORT_FIELDS: Final = frozenset({"ttl", "hop_count", "origin_signature"})
ANNOUNCEMENT_ID_RE: Final = re.compile(r"^[A-Za-z0-9_.:-]{8,100}\Z")


@dataclass(frozen=True, slots=True)
class Flooding:
    """The flooding extension fields of one received announcement, with defaults applied."""

    ttl: int
    hop_count: int
    announcement_id: str | None
    origin_location: tuple[float, float] | None
    origin_key_id: str | None
    origin_signature: str | None


@dataclass(frozen=True, slots=True)
class Position:
    node_id: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class FloodPlan:
    """What to do with a new (non-duplicate) announcement."""

    forward_to: tuple[str, ...]
    forwarded: dict[str, Any] | None
    within_radius: bool
    stopped_by: str | None


def parse_flooding(payload: Mapping[str, Any], default_ttl: int = DEFAULT_TTL) -> Flooding:
    """Read and check the extension fields; raises `ValidationFailed` listing every problem."""
    issues: list[Issue] = []
    ttl = _integer(payload, "ttl", 0, MAX_TTL, default_ttl, issues)
    hops = _integer(payload, "hop_count", 1, 10_000, 1, issues)
    ann_id = payload.get("announcement_id")
    if ann_id is not None and not (isinstance(ann_id, str) and ANNOUNCEMENT_ID_RE.match(ann_id)):
        issues.append(Issue("/announcement_id", "must match ^[A-Za-z0-9_.:-]{8,100}$"))
    location = _location(payload.get("origin_location"), issues)
    key_id, signature = payload.get("origin_key_id"), payload.get("origin_signature")
    for name, value in (("origin_key_id", key_id), ("origin_signature", signature)):
        if value is not None and not isinstance(value, str):
            issues.append(Issue(f"/{name}", "must be a string"))
    if (key_id is None) != (signature is None):
        issues.append(Issue("/origin_signature", "origin_key_id and origin_signature go together"))
    if issues:
        raise ValidationFailed(issues)
    return Flooding(
        ttl=ttl,
        hop_count=hops,
        announcement_id=ann_id,
        origin_location=location,
        origin_key_id=key_id,
        origin_signature=signature,
    )


def _integer(
    payload: Mapping[str, Any], name: str, low: int, high: int, default: int, issues: list[Issue]
) -> int:
    value = payload.get(name, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        issues.append(Issue(f"/{name}", f"must be an integer between {low} and {high}"))
        return default
    return value


def _location(value: object, issues: list[Issue]) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        lat, lon = value.get("lat"), value.get("lon")
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon))
        if numbers and -90 <= lat <= 90 and -180 <= lon <= 180:  # type: ignore[operator]
            return float(lat), float(lon)  # type: ignore[arg-type]
    issues.append(Issue("/origin_location", "must be {lat: -90..90, lon: -180..180}"))
    return None


def content(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The announcement without its transport fields: what the origin signs and dedupe hashes."""
    return {key: value for key, value in payload.items() if key not in TRANSPORT_FIELDS}


def origin_signing_input(payload: Mapping[str, Any]) -> bytes:
    return canonical_bytes(content(payload))


def dedupe_key(payload: Mapping[str, Any], flooding: Flooding) -> str:
    origin = payload["origin"]
    if flooding.announcement_id is not None:
        return sha256_hex(["id", origin, flooding.announcement_id])
    body = content(payload)
    return sha256_hex(["content", origin, payload["material"], payload["available"], body])


def plan(
    payload: Mapping[str, Any],
    flooding: Flooding,
    *,
    me: Position,
    sender: str,
    peers: Iterable[str],
    radius_km: float,
    origin_location: tuple[float, float] | None = None,
) -> FloodPlan:
    """Where a new announcement goes next (see the module docstring for the rules)."""
    where = flooding.origin_location or origin_location
    within = True
    if where is not None and me.lat is not None and me.lon is not None:
        within = geo.haversine_km(where[0], where[1], me.lat, me.lon) <= radius_km
    if flooding.ttl - 1 <= 0:
        return FloodPlan((), None, within, "ttl")
    if not within:
        return FloodPlan((), None, within, "radius")
    excluded = {sender, payload["origin"], me.node_id}
    targets = tuple(sorted(set(peers) - excluded))
    forwarded = {**payload, "ttl": flooding.ttl - 1, "hop_count": flooding.hop_count + 1}
    return FloodPlan(targets, forwarded, within, None if targets else "no_peers")
