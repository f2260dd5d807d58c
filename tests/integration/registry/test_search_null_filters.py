"""Core-dp searches with `null` filter values are refused with 400, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

TIME_FILTERS = ("updated_since", "available_from_gte", "available_from_lt")


@pytest.mark.parametrize("kind", ["material", "product"])
@pytest.mark.parametrize("name", TIME_FILTERS)
def test_a_null_time_filter_is_a_400_naming_the_filter(client: Any, kind: str, name: str) -> None:
    request = {"entity_type": kind, "filters": {name: None}, "limit": 5}
    response = client.post(f"/api/v1/{kind}/search", json=request)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert name in response.text


@pytest.mark.parametrize("value", ["2026-07-17", "yesterday", 17, "2026-02-30T00:00:00Z"])
def test_a_time_filter_that_is_no_date_time_is_a_400(client: Any, value: object) -> None:
    request = {"entity_type": "product", "filters": {"updated_since": value}, "limit": 5}
    response = client.post("/api/v1/product/search", json=request)
    assert response.status_code == 400, response.text
