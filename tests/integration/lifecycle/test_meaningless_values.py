# ruff: noqa: F811  (fixtures imported from test_federation_api are parameters here)
"""Values that are well-formed but mean nothing are refused (issue 15), on both databases.

Offers must move a positive amount of at least one step (1 g, 1 ml, one piece or bundle);
bids must carry non-negative money and come from the node that signed them; a transaction must
name a material this node knows.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests import lifecycle_payloads as p
from tests.integration.federation.test_federation_api import (  # noqa: F401  (fixtures)
    BERLIN,
    OFFER,
    _bid,
    add_peer,
    api,
    node,
)
from tests.unit.services.federation.fakes import post_signed

MAT = p.MATERIAL_ID


@pytest.fixture
def registered(client: Any, auth: dict[str, str]) -> Any:
    response = client.post("/api/v1/material", json=p.material(value=1000), headers=auth)
    assert response.status_code == 201
    return client


def test_a_buyer_node_may_record_a_trade_in_a_material_its_seller_announced(
    client: Any, auth: dict[str, str], container: Any
) -> None:
    """The cross-node case (issue 10, the demo): Berlin buys Munich's material, which Berlin
    knows only from Munich's announcement."""
    from loopnode.services.federation.ports import RemoteMaterialRow

    with container.uow(write=True) as uow:
        uow.federation.announcements.put_remote(
            RemoteMaterialRow(
                origin="munich.loop",
                material=MAT,
                received_from="munich.loop",
                available=True,
                category="plastic-pet",
                announcement_id="a-1",
                origin_verified=True,
                hop_count=0,
                document={},
                received_us=0,
                updated_us=0,
            )
        )
    response = client.post("/api/v1/transaction", json=p.transaction(material_id=MAT), headers=auth)
    assert response.status_code == 201, response.text
    foreign = p.transaction("TXN-2026-06-01-002", material_id=MAT, seller="vienna.loop")
    assert client.post("/api/v1/transaction", json=foreign, headers=auth).status_code == 404


@pytest.mark.parametrize(
    ("value", "unit"),
    [(0, "kg"), (1e-7, "kg"), (0.0001, "kg"), (0.5, "g"), (1e-9, "t"), (0.0, "t")],
)
def test_offers_of_nothing_or_less_than_a_gram_are_refused(
    registered: Any, auth: dict[str, str], container: Any, value: float, unit: str
) -> None:
    response = registered.post("/api/v1/offer", json=p.offer(MAT, value, unit), headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"]["pointer"] == "/quantity/value"
    with container.engine.connect() as connection:
        count = connection.execute(text("SELECT COUNT(*) FROM offers")).scalar_one()
    assert count == 0


@pytest.mark.parametrize(("value", "unit"), [(0.001, "kg"), (1, "g"), (0.000001, "t")])
def test_the_smallest_offer_is_one_gram(
    registered: Any, auth: dict[str, str], value: float, unit: str
) -> None:
    response = registered.post("/api/v1/offer", json=p.offer(MAT, value, unit), headers=auth)
    assert response.status_code == 201, response.text


def test_pieces_are_offered_whole(client: Any, auth: dict[str, str]) -> None:
    assert client.post("/api/v1/product", json=p.product(), headers=auth).status_code == 201
    half = p.offer(p.PRODUCT_ID, 0.5, "piece")
    assert client.post("/api/v1/offer", json=half, headers=auth).status_code == 400
    one = p.offer(p.PRODUCT_ID, 1, "piece")
    assert client.post("/api/v1/offer", json=one, headers=auth).status_code == 201


def test_a_registered_quantity_is_never_silently_rounded(client: Any, auth: dict[str, str]) -> None:
    response = client.post("/api/v1/material", json=p.material(value=999.9999999), headers=auth)
    assert response.status_code == 400, response.text


def test_a_transaction_about_an_unknown_material_is_404(client: Any, auth: dict[str, str]) -> None:
    response = client.post("/api/v1/transaction", json=p.transaction(material_id=MAT), headers=auth)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["details"]["searched_id"] == MAT
    assert client.get("/api/v1/transaction").json()["results"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("loop_cost", -5),
        ("base_price", -1e308),
        ("base_price", 1e308),
        ("loop_cost", 0.001),
        ("from", "vienna.loop"),
    ],
)
def test_meaningless_or_impersonating_bids_are_refused_and_not_stored(
    api: Any,
    node: Any,
    clock: Any,
    auth: dict[str, str],
    field: str,
    value: Any,
) -> None:
    add_peer(node, BERLIN)
    assert api.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    bid = {**_bid(), field: value}
    response = post_signed(api, BERLIN, OFFER, bid, clock.now())
    assert response.status_code in (400, 403), response.text
    with node.engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM fed_bids")).scalar_one() == 0
