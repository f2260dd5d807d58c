"""Pure pieces of the lifecycle services: event names, receiving city, ids, request hashes."""

from __future__ import annotations

import re

import pytest

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.evidence import EVENT_TYPES
from loopnode.domain.lifecycle import MACHINES
from loopnode.services.idempotency import IdempotencyRequest
from loopnode.services.lifecycle.custody import receiving_city
from loopnode.services.lifecycle.journal import event_type
from loopnode.services.lifecycle.material_status import mint_uuid
from loopnode.services.lifecycle.service import transition_body
from tests.fakes import CountingHex


@pytest.mark.parametrize("entity", ["offer", "match", "transfer", "transaction"])
def test_every_state_entered_has_a_declared_evidence_event(entity: str) -> None:
    machine = MACHINES[entity]
    for previous in (None, *machine.states):
        for status in machine.states:
            assert EVENT_TYPES[event_type(entity, status, previous)] == entity


def test_offer_events_name_publication_reservation_and_reopening() -> None:
    assert event_type("offer", "open", None) == "offer.published"
    assert event_type("offer", "reserved", "open") == "offer.reserved"
    assert event_type("offer", "open", "reserved") == "offer.reopened"
    assert event_type("offer", "withdrawn", "reserved") == "offer.withdrawn"
    assert event_type("material", "reserved", "available") == "material.status_updated"


@pytest.mark.parametrize(
    ("offer_to", "route", "expected"),
    [
        ("Hamburg", {"to_city": "Cologne"}, "Hamburg"),
        ("any", {"to_city": "Cologne"}, "Cologne"),
        ("ANY", {"to_city": "Cologne"}, "Cologne"),
        ("any", None, "Berlin"),
        ("any", {"to_city": ""}, "Berlin"),
        ("any", {"to_city": "x" * 81}, "Berlin"),
    ],
)
def test_the_receiving_city_is_the_offers_then_the_routes_then_the_matchs(
    offer_to: str, route: dict[str, str] | None, expected: str
) -> None:
    transfer = {} if route is None else {"route": route}
    assert receiving_city({"to_city": offer_to}, transfer, {"to_city": "Berlin"}) == expected


def test_minted_status_update_ids_are_version_4_uuids() -> None:
    minted = mint_uuid(CountingHex())
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", minted
    )


def test_the_request_hash_is_canonical_and_covers_method_and_path() -> None:
    a = IdempotencyRequest.of("p", "k", "POST", "/api/v1/offer", {"a": 1, "b": [1, 2]})
    b = IdempotencyRequest.of("p", "k", "post", "/api/v1/offer", {"b": [1, 2], "a": 1.0})
    assert a.request_hash == b.request_hash
    other_path = IdempotencyRequest.of("p", "k", "POST", "/api/v1/match", {"a": 1, "b": [1, 2]})
    assert other_path.request_hash != a.request_hash


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "caf\u00e9", "tab\tkey"])
def test_idempotency_keys_are_visible_ascii(key: str) -> None:
    with pytest.raises(InvalidRequest):
        IdempotencyRequest.of("p", key, "POST", "/", {})


@pytest.mark.parametrize(
    "body",
    [{}, {"status": 1}, {"status": "open", "reason": 7}, {"status": "open", "why": "x"}],
)
def test_a_status_body_is_a_status_and_an_optional_reason(body: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest):
        transition_body(body)
    assert transition_body({"status": "open", "reason": "r"}) == ("open", "r")
