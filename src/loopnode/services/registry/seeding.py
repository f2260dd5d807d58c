"""Demo records for `loopnode seed`: the upstream example passports plus generated ones.

Generated records sit within about 40 km of the node, with categories, quantities and
conditions drawn from the protocol's enums; randomness is injected so tests can pin it.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, get_args

from loopnode.domain.errors import Conflict
from loopnode.domain.times import format_timestamp
from loopnode.protocol.models.material import MaterialCategory
from loopnode.protocol.models.product import ProductCategory
from loopnode.services.registry.identity import NodeIdentity
from loopnode.services.registry.service import RegistryService

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
MATERIAL_CATEGORIES: tuple[str, ...] = get_args(MaterialCategory)
PRODUCT_CATEGORIES: tuple[str, ...] = get_args(ProductCategory)
CONDITIONS = ("new", "like-new", "good", "fair", "poor", "for-parts")
MASS_UNITS = ("kg", "kg", "kg", "t")
ACTOR = "cli:seed"


def example_records() -> list[dict[str, Any]]:
    """The packaged upstream examples, with the two materials example 14 refers to."""
    text = resources.files("loopnode.seed").joinpath("examples.json").read_text("utf-8")
    documents: list[dict[str, Any]] = json.loads(text)
    materials = [d for d in documents if d["@type"] == "MaterialDNA"]
    products = [d for d in documents if d["@type"] == "ProductDNA"]
    template = materials[0]
    referenced = {ref for p in products for ref in p.get("material_ids", [])}
    known = {m["id"] for m in materials}
    for ref in sorted(referenced - known):
        category = "metal-steel" if "-METAL-" in ref else "plastic-pp"
        materials.append({**template, "id": ref, "category": category})
    return materials + products


def jitter(rng: random.Random, lat: float, lon: float, max_km: float) -> tuple[float, float]:
    distance = max_km * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = distance / 111.2 * math.cos(bearing)
    dlon = distance / (111.2 * max(math.cos(math.radians(lat)), 0.01)) * math.sin(bearing)
    return round(lat + dlat, 6), round(lon + dlon, 6)


def generated_material(rng: random.Random, node: NodeIdentity, now: datetime) -> dict[str, Any]:
    lat, lon = jitter(rng, node.lat, node.lon, 40)
    unit = rng.choice(MASS_UNITS)
    value = rng.randint(1, 40) if unit == "t" else rng.randint(50, 5000)
    return {
        "@context": CONTEXT,
        "@type": "MaterialDNA",
        "schema_version": "0.2.0",
        "category": rng.choice(MATERIAL_CATEGORIES),
        "quantity": {"value": value, "unit": unit},
        "quality": round(rng.uniform(0.4, 1.0), 2),
        "origin_city": node.city,
        "current_city": node.city,
        "location": {"lat": lat, "lon": lon},
        "available_from": format_timestamp(now - timedelta(days=rng.randint(0, 30))),
        "metadata": {
            "source": "loopnode seed",
            "batch_number": f"SEED-{rng.randint(1, 99999):05d}",
        },
    }


def generated_product(
    rng: random.Random, node: NodeIdentity, now: datetime, material_ids: list[str]
) -> dict[str, Any]:
    lat, lon = jitter(rng, node.lat, node.lon, 40)
    category = rng.choice(PRODUCT_CATEGORIES)
    picked = rng.sample(material_ids, k=min(len(material_ids), rng.randint(0, 2)))
    return {
        "@context": CONTEXT,
        "@type": "ProductDNA",
        "schema_version": "0.2.0",
        "product_category": category,
        "name": f"{category.replace('-', ' ').title()} lot {rng.randint(1, 9999)}",
        "condition": rng.choice(CONDITIONS),
        "quantity": {"value": rng.randint(1, 60), "unit": "piece"},
        "origin_city": node.city,
        "current_city": node.city,
        "location": {"lat": lat, "lon": lon},
        "available_from": format_timestamp(now - timedelta(days=rng.randint(0, 30))),
        "material_ids": picked,
    }


def seed(
    registry: RegistryService,
    rng: random.Random,
    now: datetime,
    count: int,
    progress: Callable[[], None] = lambda: None,
) -> SeedReport:
    """Register the examples (skipping ones already present), then `count` generated records,
    about three materials for every product. `progress` is called once per record."""
    report = SeedReport()
    for document in example_records():
        kind = "material" if document["@type"] == "MaterialDNA" else "product"
        try:
            registry.register(kind, document, ACTOR)
            report.examples += 1
        except Conflict:
            report.skipped += 1
        progress()
    material_ids: list[str] = []
    for index in range(count):
        if index % 4 == 3 and material_ids:
            document = generated_product(rng, registry.node, now, material_ids[-50:])
            registry.register("product", document, ACTOR)
            report.products += 1
        else:
            registered = registry.register(
                "material", generated_material(rng, registry.node, now), ACTOR
            )
            material_ids.append(registered.row.id)
            report.materials += 1
        progress()
    return report


@dataclass
class SeedReport:
    examples: int = 0
    skipped: int = 0
    materials: int = 0
    products: int = 0
