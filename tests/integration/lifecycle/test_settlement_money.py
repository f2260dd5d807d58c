"""Settlement amounts are summed in integer cents (Money), never as binary floats."""

from __future__ import annotations

from typing import Any

import pytest

from tests import lifecycle_payloads as p


@pytest.fixture
def confirmed(client: Any, auth: dict[str, str]) -> Any:
    def post(body: dict[str, Any]) -> Any:
        return client.post("/api/v1/transaction", json=body, headers=auth)

    material = client.post("/api/v1/material", json=p.material(value=100), headers=auth)
    assert material.status_code == 201, material.text
    assert post(p.transaction(status="confirmed")).status_code == 201
    return post


def _settlement(final_cost: object, *parts: object) -> dict[str, Any]:
    names = ("seller_receives", "seller_community_fund", "buyer_community_fund", "transport_cost")
    return p.settlement(final_cost=final_cost, distribution=dict(zip(names, parts, strict=False)))


def test_parts_whose_float_sum_drifts_still_add_up_exactly(confirmed: Any) -> None:
    # 0.1 + 0.2 is 0.30000000000000004 in binary floating point; in cents it is 30.
    response = confirmed(_settlement(0.3, 0.1, 0.2, 0, 0))
    assert response.status_code == 201, response.text


def test_a_distribution_one_cent_short_is_refused_naming_the_exact_sum(confirmed: Any) -> None:
    response = confirmed(_settlement(156, 120, 24, 11.99, 0))
    assert response.status_code == 400
    assert response.json()["error"]["details"]["distributed"] == "155.99"


def test_a_sub_cent_amount_is_refused_as_no_whole_number_of_cents(confirmed: Any) -> None:
    response = confirmed(_settlement(156.005, 120, 24, 12.005, 0))
    assert response.status_code == 400
    assert "0.01" in response.json()["error"]["message"]
