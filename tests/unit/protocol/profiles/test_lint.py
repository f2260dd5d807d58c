"""Profile findings: warnings for broken profile rules, infos for recommendations, no crashes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from loopnode.protocol.profiles import RULES, lint

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "profiles"


def load(reference: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((reference / "examples" / name).read_text())
    return document


def requirements_of(payload: Any) -> list[tuple[str, str]]:
    return [(f.severity, f.requirement) for f in lint(payload)]


@pytest.mark.parametrize(
    "name",
    [
        "01-material-registration.json",
        "12-material-dna-dpp-extensions.json",
        "14-product-reuse-registration.json",
        "17-battery-passport-material.json",
        "18-packaging-transfer.json",
        "19-waste-shipment-transfer.json",
    ],
)
def test_the_official_examples_have_no_findings(name: str, reference: Path) -> None:
    assert lint(load(reference, name)) == []


def test_every_rule_names_a_requirement_of_its_profile(reference: Path) -> None:
    for rule in RULES:
        path = reference / "profiles" / rule.profile / "requirements"
        ids = {
            r["id"] for f in path.glob("*.json") for r in json.loads(f.read_text())["requirements"]
        }
        assert rule.requirement in ids


def test_battery_findings(reference: Path) -> None:
    battery = load(reference, "17-battery-passport-material.json")
    battery["category"] = "metal-mixed"
    battery["passport"]["supported_regimes"] = ["espr-dpp"]
    del battery["passport"]["material_safety_info_url"]
    assert requirements_of(battery) == [
        ("warning", "BATTERY-REQ-CATEGORY-MAPPING"),
        ("info", "BATTERY-REQ-REGIME-TAGGING"),
        ("info", "BATTERY-REQ-HAZARD-AND-DECLARED-VALUES"),
    ]


def test_packaging_and_waste_shipment_findings(reference: Path) -> None:
    vectors = json.loads((FIXTURES / "packaging-requirement-vectors.json").read_text())["vectors"]
    crate = next(v["payload"] for v in vectors if v["id"] == "lnp-packaging-category-valid")
    assert lint(crate) == []
    assert requirements_of({**crate, "product_category": "furniture-office"}) == [
        ("warning", "PACKAGING-REQ-CATEGORY-MAPPING")
    ]
    transfer = load(reference, "19-waste-shipment-transfer.json")
    public = copy.deepcopy(transfer)
    public["passport"]["visible_to"] = "public"
    del public["traceability"]["retention_until"]
    assert requirements_of(public) == [
        ("warning", "WASTE-SHIPMENT-REQ-ACCESS-TIER-NO-PUBLIC"),
        ("info", "WASTE-SHIPMENT-REQ-RETENTION"),
    ]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "x",
        3,
        {},
        {"@type": "MaterialDNA", "classification": "x", "passport": 5},
        {"@type": "ProductDNA", "passport": {"supported_regimes": 7}},
        {"@type": "Transfer", "waste_shipment_doc_ref": "x", "passport": []},
    ],
)
def test_odd_shapes_never_raise(payload: Any) -> None:
    lint(payload)
