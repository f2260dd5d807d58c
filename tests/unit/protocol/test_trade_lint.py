"""Profile rules on trades, without a node: the entity, its passport and the route decide."""

from __future__ import annotations

from typing import Any

from loopnode.protocol.profiles.trade import Route, lint_trade
from tests import lifecycle_payloads as p

WASTE = p.material(passport={"supported_regimes": ["waste-shipment"]})
MUNICH_BERLIN = Route("Munich", "Berlin")


def requirements(entity: dict[str, Any], subject: Any, route: Route) -> list[tuple[str, str]]:
    return [(f.severity, f.requirement) for f in lint_trade(entity, subject, route)]


def test_an_offer_to_any_city_has_no_destination_yet() -> None:
    offer = p.offer(to_city="any")
    assert requirements(offer, WASTE, Route("Munich", "any")) == []
    assert requirements(offer, WASTE, MUNICH_BERLIN) == [("info", "WASTE-SHIPMENT-REQ-DOC-REF")]


def test_a_transfer_tagged_itself_counts_even_when_its_passport_is_unknown() -> None:
    transfer = p.transfer("MCH-1", passport={"supported_regimes": ["waste-shipment"]})
    assert requirements(transfer, None, MUNICH_BERLIN) == [
        ("warning", "WASTE-SHIPMENT-REQ-DOC-REF")
    ]
    assert requirements(transfer, None, Route("Munich", None)) == []


def test_a_city_named_in_another_case_is_the_same_city() -> None:
    assert requirements(p.match("OFR-1"), WASTE, Route("Munich", "MUNICH")) == []


def test_ppwr_pool_tracking_concerns_products_only() -> None:
    crate = p.product(passport={"supported_regimes": ["ppwr"]})
    transfer = p.transfer("MCH-1", p.PRODUCT_ID)
    assert requirements(transfer, crate, MUNICH_BERLIN) == [("info", "PACKAGING-REQ-POOL-TRACKING")]
    tagged_material = p.material(passport={"supported_regimes": ["ppwr"]})
    assert requirements(p.transfer("MCH-1"), tagged_material, MUNICH_BERLIN) == []
    offer = p.offer(p.PRODUCT_ID, 1, "piece")
    assert requirements(offer, crate, MUNICH_BERLIN) == []
