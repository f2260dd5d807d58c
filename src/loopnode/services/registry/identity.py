"""Who this node is, as the services need to know it (built from the settings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    node_id: str
    name: str
    country: str
    city_code: str
    city: str
    lat: float
    lon: float
    api_base: str
    public_key_pem: str = ""
