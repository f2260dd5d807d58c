"""The registry, lifecycle, material-status, custody and idempotency services on the in-memory
unit of work (tests/fakes/uow.py): main paths and refusals, no database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from loopnode.domain.errors import Conflict, InvalidRequest, NotFound
from loopnode.domain.evidence import verify_chain
from loopnode.services.idempotency import IdempotencyRequest, IdempotencyService
from loopnode.services.lifecycle.custody import Custody
from loopnode.services.lifecycle.engine import Exchange
from loopnode.services.lifecycle.material_status import MaterialStatusService
from loopnode.services.lifecycle.service import LifecycleService
from loopnode.services.registry.identity import NodeIdentity
from loopnode.services.registry.service import RegistryService
from loopnode.services.results import Changed, Created, Replayed, Result, StoredResponse
from tests import lifecycle_payloads as p
from tests.fakes import CountingHex, FakeClock
from tests.fakes.uow import MemoryState, memory_uow

MAT = p.MATERIAL_ID
KG = 1_000_000  # micro-units of a kilogram
ACTOR = "apikey:unit"
NODE = NodeIdentity(
    node_id="munich.loop",
    name="Munich",
    country="DE",
    city_code="MUC",
    city="Munich",
    lat=48.137,
    lon=11.575,
    api_base="http://munich.test/api/v1",
)


@dataclass
class World:
    state: MemoryState
    clock: FakeClock
    writes: IdempotencyService
    registry: RegistryService
    lifecycle: LifecycleService
    status: MaterialStatusService

    def offer(self, value: float = 10, **extra: Any) -> str:
        return str(
            self.lifecycle.create("offer", p.offer(MAT, value, **extra), ACTOR).document["id"]
        )

    def match(self, offer_id: str, status: str = "proposed") -> str:
        created = self.lifecycle.create("match", p.match(offer_id, status=status), ACTOR)
        return str(created.document["id"])

    def entity(self, entity: str, entity_id: str) -> Any:
        return self.state.exchange[(entity, entity_id)]

    @property
    def material(self) -> Any:
        return self.state.records[MAT]


@pytest.fixture
def world() -> World:
    state, clock, hexes = MemoryState(), FakeClock(), CountingHex()
    uow = memory_uow(state)
    writes = IdempotencyService(uow, clock)
    registry = RegistryService(uow, clock, NODE, hexes)
    lifecycle = LifecycleService(uow, writes, Exchange(Custody(NODE, hexes)), hexes)
    world = World(
        state, clock, writes, registry, lifecycle, MaterialStatusService(uow, writes, hexes)
    )
    registry.register("material", p.material(MAT, 100, location={"lat": 48.1, "lon": 11.6}), ACTOR)
    return world


def events(world: World) -> list[str]:
    return [event.event_type for event, _ in world.state.evidence]


# -- registry ---------------------------------------------------------------------------------
def test_a_registration_stores_the_record_and_one_evidence_entry(world: World) -> None:
    assert world.material.quantity_micro == 100 * KG
    assert events(world) == ["material.registered"]
    assert world.registry.get("material", MAT).document["id"] == MAT


def test_a_second_registration_of_an_id_is_refused_and_changes_nothing(world: World) -> None:
    with pytest.raises(Conflict):
        world.registry.register("material", p.material(MAT), ACTOR)
    assert events(world) == ["material.registered"]
    assert world.state.rollbacks == 1


def test_a_product_naming_unknown_materials_is_refused(world: World) -> None:
    body = p.product(material_ids=["MAT-DE-MUC-2026-PLASTIC-Z99999"])
    with pytest.raises(InvalidRequest) as refused:
        world.registry.register("product", body, ACTOR)
    assert refused.value.details["unknown_material_ids"] == ["MAT-DE-MUC-2026-PLASTIC-Z99999"]
    with pytest.raises(NotFound):
        world.registry.get("product", p.PRODUCT_ID)


# -- offers: offered quantity ------------------------------------------------------------------
def test_offers_hold_quantity_and_never_exceed_the_subject(world: World) -> None:
    world.offer(60)
    assert world.material.offered_micro == 60 * KG
    with pytest.raises(InvalidRequest) as refused:
        world.offer(41)
    assert refused.value.details["requested_micro"] == 41 * KG
    assert world.material.offered_micro == 60 * KG
    assert len(world.state.exchange) == 1
    world.offer(40)
    assert world.material.offered_micro == 100 * KG


def test_withdrawing_an_offer_releases_its_quantity(world: World) -> None:
    offer_id = world.offer(30)
    changed = world.lifecycle.transition("offer", offer_id, {"status": "withdrawn"}, ACTOR)
    assert isinstance(changed, Changed)
    assert changed.document["status"] == "withdrawn"
    assert world.material.offered_micro == 0


def test_no_transition_out_of_a_terminal_state(world: World) -> None:
    offer_id = world.offer()
    world.lifecycle.transition("offer", offer_id, {"status": "withdrawn"}, ACTOR)
    before = list(world.state.evidence)
    with pytest.raises(Conflict) as refused:
        world.lifecycle.transition("offer", offer_id, {"status": "open"}, ACTOR)
    assert refused.value.details == {"entity": "offer", "current": "withdrawn", "target": "open"}
    assert world.state.evidence == before


def test_offers_are_not_created_reserved_nor_reserved_by_hand(world: World) -> None:
    with pytest.raises(InvalidRequest):
        world.offer(status="reserved")
    offer_id = world.offer()
    with pytest.raises(Conflict):
        world.lifecycle.transition("offer", offer_id, {"status": "reserved"}, ACTOR)


# -- matches -----------------------------------------------------------------------------------
def test_a_match_reserves_its_offer_and_only_one_is_active(world: World) -> None:
    offer_id = world.offer()
    match_id = world.match(offer_id)
    assert world.entity("offer", offer_id).status == "reserved"
    with pytest.raises(Conflict) as refused:
        world.match(offer_id)
    assert refused.value.details["rule"] == "one active match per offer"
    assert refused.value.details["match_id"] == match_id
    with pytest.raises(Conflict):  # reopened by its match only
        world.lifecycle.transition("offer", offer_id, {"status": "open"}, ACTOR)


def test_a_rejected_match_reopens_its_offer(world: World) -> None:
    offer_id = world.offer()
    match_id = world.match(offer_id)
    world.lifecycle.transition("match", match_id, {"status": "rejected"}, ACTOR)
    assert world.entity("offer", offer_id).status == "open"
    assert "offer.reopened" in events(world)
    world.match(offer_id)  # matchable again


def test_an_expired_offer_takes_no_match(world: World) -> None:
    offer_id = world.offer()
    world.clock.advance(days=40)
    with pytest.raises(InvalidRequest, match="expired"):
        world.match(offer_id)


# -- transfers and custody ---------------------------------------------------------------------
def test_a_completed_partial_transfer_splits_the_passport(world: World) -> None:
    offer_id = world.offer(10)
    match_id = world.match(offer_id, "accepted")
    body = p.transfer(match_id, status="completed")
    world.lifecycle.create("transfer", body, ACTOR)
    parent = world.material
    children = [r for r in world.state.records.values() if r.parent_id == MAT]
    assert len(children) == 1
    child = children[0]
    assert (parent.quantity_micro, child.quantity_micro) == (90 * KG, 10 * KG)
    assert parent.document["quantity"]["value"] == 90
    assert child.document["quantity"] == {"value": 10, "unit": "kg"}
    assert (parent.current_city, child.current_city) == ("Munich", "Berlin")
    assert "location" not in child.document and child.lat is None
    assert parent.offered_micro == 0
    assert world.entity("offer", offer_id).status == "withdrawn"
    assert [e.mode for e in world.state.custody] == ["split"]
    assert verify_chain(event for event, _ in world.state.evidence) is None
    history = world.lifecycle.history("material", MAT)
    assert history["custody"][0]["child_id"] == child.id
    assert history["offers"] == [
        {"id": offer_id, "status": "withdrawn", "quantity": p.offer()["quantity"]}
    ]


def test_a_completed_transfer_of_everything_moves_the_passport(world: World) -> None:
    match_id = world.match(world.offer(100), "accepted")
    world.lifecycle.create("transfer", p.transfer(match_id, status="completed"), ACTOR)
    assert world.material.current_city == "Berlin"
    assert world.material.quantity_micro == 100 * KG
    assert [e.mode for e in world.state.custody] == ["move"]
    assert len(world.state.records) == 1


def test_one_live_transfer_per_match_and_goods_in_transit_keep_their_match(world: World) -> None:
    match_id = world.match(world.offer(), "accepted")
    first = world.lifecycle.create("transfer", p.transfer(match_id, status="in_transit"), ACTOR)
    with pytest.raises(Conflict) as refused:
        world.lifecycle.create("transfer", p.transfer(match_id), ACTOR)
    assert refused.value.details["transfer_id"] == first.document["id"]
    with pytest.raises(Conflict):
        world.lifecycle.transition("match", match_id, {"status": "expired"}, ACTOR)


def test_a_transfer_needs_an_accepted_match(world: World) -> None:
    match_id = world.match(world.offer())
    with pytest.raises(InvalidRequest, match="accepted match"):
        world.lifecycle.create("transfer", p.transfer(match_id), ACTOR)


# -- material status ---------------------------------------------------------------------------
def test_availability_follows_its_machine_and_withdrawal_waits_for_offers(world: World) -> None:
    created = world.status.record(p.status_update(MAT, "reserved"), ACTOR)
    assert isinstance(created, Created)
    assert created.path == f"/api/v1/material-status/{created.document['id']}"
    assert world.material.availability == "reserved"
    offer_id = world.offer()
    with pytest.raises(Conflict, match="withdraw them first"):
        world.status.record(p.status_update(MAT, "withdrawn"), ACTOR)
    world.lifecycle.transition("offer", offer_id, {"status": "withdrawn"}, ACTOR)
    world.status.record(p.status_update(MAT, "withdrawn"), ACTOR)
    with pytest.raises(InvalidRequest, match="withdrawn"):
        world.offer()
    with pytest.raises(Conflict):  # terminal
        world.status.record(p.status_update(MAT, "available"), ACTOR)


def test_a_status_update_for_an_unknown_material_is_refused(world: World) -> None:
    with pytest.raises(InvalidRequest):
        world.status.record(p.status_update("MAT-DE-MUC-2026-PLASTIC-Z99999"), ACTOR)
    assert world.state.status_updates == {}


# -- results and idempotency -------------------------------------------------------------------
def render(result: Result) -> StoredResponse:
    if isinstance(result, Created):
        return StoredResponse(201, result.document, {"Location": result.path})
    return StoredResponse(200, result.document)


def keyed(body: dict[str, Any], key: str = "k1") -> IdempotencyRequest:
    return IdempotencyRequest.of(ACTOR, key, "POST", "/api/v1/offer", body)


def test_a_key_runs_the_change_once_and_replays_what_was_stored(world: World) -> None:
    body = p.offer(MAT, 10)
    first = world.writes.run(
        keyed(body), world.lifecycle.create_change("offer", body, ACTOR), render
    )
    assert isinstance(first, Created)
    assert first.path == f"/api/v1/offer/{first.document['id']}"
    again = world.writes.run(
        keyed(body), world.lifecycle.create_change("offer", body, ACTOR), render
    )
    assert again == Replayed(StoredResponse(201, first.document, {"Location": first.path}))
    assert world.writes.replay(keyed(body)) == again
    assert len(world.state.exchange) == 1
    assert world.material.offered_micro == 10 * KG


def test_a_key_reused_with_another_body_is_409(world: World) -> None:
    body = p.offer(MAT, 10)
    world.writes.run(keyed(body), world.lifecycle.create_change("offer", body, ACTOR), render)
    other = p.offer(MAT, 20)
    with pytest.raises(Conflict, match="different request"):
        world.writes.replay(keyed(other))
    with pytest.raises(Conflict, match="different request"):
        world.writes.run(keyed(other), world.lifecycle.create_change("offer", other, ACTOR), render)


def test_a_failed_change_stores_no_key_so_it_may_be_retried(world: World) -> None:
    body = p.offer(MAT, 101)
    with pytest.raises(InvalidRequest):
        world.writes.run(keyed(body), world.lifecycle.create_change("offer", body, ACTOR), render)
    assert world.state.idempotency == {}
    assert world.material.offered_micro == 0
