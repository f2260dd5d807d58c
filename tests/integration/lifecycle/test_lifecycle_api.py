"""The exchange lifecycle over HTTP (DECISIONS 7-11), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text

from loopnode.domain.errors import Conflict, InvalidRequest
from loopnode.domain.lifecycle import MACHINES
from loopnode.services.ports import ExchangeRow
from tests import lifecycle_payloads as p

MAT = p.MATERIAL_ID
PRD = p.PRODUCT_ID


class Api:
    def __init__(self, client: Any, auth: dict[str, str]) -> None:
        self.client = client
        self.auth = auth

    def post(self, path: str, body: dict[str, Any], **headers: str) -> Any:
        return self.client.post(f"/api/v1/{path}", json=body, headers={**self.auth, **headers})

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1/{path}", params=params)

    def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(path, body)
        assert response.status_code == 201, response.json()
        document: dict[str, Any] = response.json()
        return document

    def status(self, entity: str, entity_id: str, status: str, **extra: str) -> Any:
        return self.post(f"{entity}/{entity_id}/status", {"status": status, **extra})

    def record(self, record_id: str = MAT) -> dict[str, Any]:
        kind = "material" if record_id.startswith("MAT-") else "product"
        document: dict[str, Any] = self.get(f"{kind}/{record_id}").json()
        return document

    def offer(self, value: float = 10, subject: str = MAT, **kw: Any) -> str:
        unit = kw.pop("unit", "kg" if subject.startswith("MAT-") else "piece")
        return str(self.created("offer", p.offer(subject, value, unit, **kw))["id"])

    def match(self, offer_id: str, subject: str = MAT, **kw: Any) -> str:
        return str(self.created("match", p.match(offer_id, subject, **kw))["id"])

    def transfer(self, match_id: str, subject: str = MAT, **kw: Any) -> str:
        return str(self.created("transfer", p.transfer(match_id, subject, **kw))["id"])

    def accepted_match(self, value: float = 10, subject: str = MAT, **kw: Any) -> tuple[str, str]:
        offer_id = self.offer(value, subject, **kw)
        return offer_id, self.match(offer_id, subject, status="accepted")


@pytest.fixture
def api(client: Any, auth: dict[str, str]) -> Api:
    registry = Api(client, auth)
    registry.created("material", p.material(value=100))
    return registry


def offered_micro(container: Any, record_id: str = MAT) -> tuple[int, int]:
    with container.engine.connect() as connection:
        row = connection.execute(
            text("SELECT offered_micro, quantity_micro FROM dna_records WHERE id = :id"),
            {"id": record_id},
        ).one()
    return int(row[0]), int(row[1])


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


# -- creation -------------------------------------------------------------------------------------


def test_create_answers_201_with_the_stored_entity_as_json_ld_and_a_location(api: Api) -> None:
    body = p.offer(MAT, 10, offer_id="OFR-TEST0001")
    response = api.post("offer", body)
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/ld+json")
    assert response.headers["location"] == "/api/v1/offer/OFR-TEST0001"
    # The answer adds the regulatory profile findings (none for a plain offer); never stored.
    assert response.json() == {**body, "profile_findings": []}
    read = api.get("offer/OFR-TEST0001")
    assert read.status_code == 200
    assert read.headers["content-type"].startswith("application/ld+json")
    assert read.json() == body


@pytest.mark.parametrize(
    ("entity", "prefix"), [("offer", "OFR"), ("match", "MCH"), ("transfer", "TRF")]
)
def test_ids_are_minted_when_absent(api: Api, entity: str, prefix: str) -> None:
    offer_id, match_id = api.accepted_match()
    ids = {"offer": offer_id, "match": match_id, "transfer": api.transfer(match_id)}
    assert re.fullmatch(rf"{prefix}-[0-9A-F]{{6,}}", ids[entity])


def test_a_material_status_update_gets_a_uuid_when_it_has_no_id(api: Api) -> None:
    created = api.created("material-status", p.status_update(status="reserved"))
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", created["id"]
    )
    assert api.get(f"material-status/{created['id']}").json() == created


@pytest.mark.parametrize("entity", ["offer", "match", "transfer", "material-status"])
def test_personal_data_is_refused(api: Api, entity: str) -> None:
    offer_id, match_id = api.accepted_match()
    bodies = {
        "offer": p.offer(MAT, 1),
        "match": p.match(offer_id),
        "transfer": p.transfer(match_id),
        "material-status": p.status_update(),
    }
    body = {**bodies[entity], "metadata": {"notes": "call Maria at +49 89 1234 5678"}}
    response = api.post(entity, body)
    assert response.status_code == 400
    assert error(response)["code"] == "INVALID_REQUEST"


def test_schema_violations_are_400_with_pointers(api: Api) -> None:
    body = p.offer(MAT, 10)
    body["quantity"]["unit"] = "barrel"
    response = api.post("offer", body)
    assert response.status_code == 400
    pointers = {issue["pointer"] for issue in error(response)["details"]["validation"]}
    assert "/quantity/unit" in pointers


def test_writes_need_a_key(client: Any, api: Api) -> None:
    response = client.post("/api/v1/offer", json=p.offer(MAT, 1))
    assert response.status_code == 401


def test_an_offer_for_an_unknown_subject_is_400(api: Api) -> None:
    response = api.post("offer", p.offer("MAT-DE-MUC-2026-PLASTIC-FFFFFF", 1))
    assert response.status_code == 400


# -- §3.6.1 invariants ----------------------------------------------------------------------------


def test_a_match_reserves_its_offer_and_a_second_active_match_is_409(api: Api) -> None:
    offer_id = api.offer()
    api.match(offer_id)
    assert api.get(f"offer/{offer_id}").json()["status"] == "reserved"
    response = api.post("match", p.match(offer_id))
    assert response.status_code == 409
    assert error(response)["code"] == "CONFLICT"


@pytest.mark.parametrize("how", ["withdrawn", "expired", "unknown"])
def test_a_match_needs_an_open_offer(api: Api, clock: Any, how: str) -> None:
    offer_id = api.offer()
    if how == "withdrawn":
        api.status("offer", offer_id, "withdrawn")
    elif how == "expired":
        clock.advance(days=31)
    else:
        offer_id = "OFR-NOSUCHOFFER"
    assert api.post("match", p.match(offer_id)).status_code == 400


def test_a_subject_that_differs_from_the_offer_is_400_before_the_409(api: Api) -> None:
    api.created("material", p.material("MAT-DE-MUC-2026-PLASTIC-A00002"))
    offer_id = api.offer()
    api.match(offer_id)
    other = p.match(offer_id, "MAT-DE-MUC-2026-PLASTIC-A00002")
    assert api.post("match", other).status_code == 400


def test_a_terminal_match_releases_the_offer_for_a_new_match(api: Api) -> None:
    offer_id = api.offer()
    first = api.match(offer_id)
    assert api.status("match", first, "rejected").status_code == 200
    assert api.get(f"offer/{offer_id}").json()["status"] == "open"
    api.match(offer_id)
    assert api.get(f"offer/{offer_id}").json()["status"] == "reserved"


def test_a_transfer_needs_an_accepted_match(api: Api) -> None:
    offer_id = api.offer()
    proposed = api.match(offer_id)
    assert api.post("transfer", p.transfer(proposed)).status_code == 400
    assert api.post("transfer", p.transfer("MCH-NOSUCHMATCH")).status_code == 400


def test_one_live_transfer_per_match_and_a_cancelled_one_frees_the_match(api: Api) -> None:
    _, match_id = api.accepted_match()
    first = api.transfer(match_id)
    assert api.post("transfer", p.transfer(match_id)).status_code == 409
    assert api.status("transfer", first, "cancelled").status_code == 200
    api.transfer(match_id)


def test_a_match_with_a_live_transfer_cannot_become_terminal(api: Api) -> None:
    offer_id, match_id = api.accepted_match()
    api.transfer(match_id)
    response = api.status("match", match_id, "expired")
    assert response.status_code == 409
    assert error(response)["details"]["current"] == "accepted"
    withdraw = api.status("offer", offer_id, "withdrawn")
    assert withdraw.status_code == 409
    assert api.get(f"offer/{offer_id}").json()["status"] == "reserved"


def test_withdrawing_a_reserved_offer_expires_its_match(api: Api, container: Any) -> None:
    offer_id = api.offer(30)
    match_id = api.match(offer_id)
    assert api.status("offer", offer_id, "withdrawn").status_code == 200
    assert api.get(f"match/{match_id}").json()["status"] == "expired"
    assert offered_micro(container)[0] == 0


def test_offers_never_exceed_the_subject_after_unit_conversion(api: Api, container: Any) -> None:
    api.offer(0.06, unit="t")
    assert api.post("offer", p.offer(MAT, 50)).status_code == 400
    assert api.post("offer", p.offer(MAT, 40_001, "g")).status_code == 400
    api.offer(40_000, unit="g")
    assert offered_micro(container) == (100_000_000, 100_000_000)


def test_a_withdrawn_offer_gives_its_quantity_back(api: Api, container: Any) -> None:
    big = api.offer(100)
    assert api.post("offer", p.offer(MAT, 1)).status_code == 400
    api.status("offer", big, "withdrawn")
    assert offered_micro(container)[0] == 0
    api.offer(1)


def test_an_offer_in_another_dimension_than_its_subject_is_400(api: Api) -> None:
    response = api.post("offer", p.offer(MAT, 5, "l"))
    assert response.status_code == 400
    assert "unit" in error(response)["details"]


def test_offers_are_never_created_reserved(api: Api) -> None:
    assert api.post("offer", p.offer(MAT, 5, status="reserved")).status_code == 400


def test_an_offer_created_withdrawn_holds_no_quantity(api: Api, container: Any) -> None:
    api.offer(100, status="withdrawn")
    assert offered_micro(container)[0] == 0


def test_a_withdrawn_material_takes_no_offers_and_offers_block_withdrawal(api: Api) -> None:
    offer_id = api.offer(5)
    assert api.post("material-status", p.status_update(status="withdrawn")).status_code == 409
    api.status("offer", offer_id, "withdrawn")
    assert api.post("material-status", p.status_update(status="withdrawn")).status_code == 201
    assert api.post("offer", p.offer(MAT, 5)).status_code == 400


def test_the_database_backstops_one_active_match_per_offer(api: Api, container: Any) -> None:
    offer_id = api.offer()
    match_id = api.match(offer_id)
    with container.uow(write=True) as uow:
        existing = uow.exchange.get("match", match_id)
    twin = ExchangeRow(**{**_fields(existing), "id": "MCH-TWIN0001"})
    with pytest.raises(Conflict, match="active match"), container.uow(write=True) as uow:
        uow.exchange.insert(twin)


def test_the_database_backstops_the_subject_of_a_match(api: Api, container: Any) -> None:
    api.created("material", p.material("MAT-DE-MUC-2026-PLASTIC-A00002"))
    offer_id = api.offer()
    match_id = api.match(offer_id)
    api.status("match", match_id, "rejected")
    with container.uow(write=True) as uow:
        existing = uow.exchange.get("match", match_id)
    fields = {**_fields(existing), "id": "MCH-OTHER001", "status": "proposed"}
    fields["subject_id"] = "MAT-DE-MUC-2026-PLASTIC-A00002"
    with pytest.raises(InvalidRequest, match="subject"), container.uow(write=True) as uow:
        uow.exchange.insert(ExchangeRow(**fields))


def test_the_database_backstops_one_live_transfer_per_match(api: Api, container: Any) -> None:
    _, match_id = api.accepted_match()
    transfer_id = api.transfer(match_id)
    with container.uow(write=True) as uow:
        existing = uow.exchange.get("transfer", transfer_id)
    twin = ExchangeRow(**{**_fields(existing), "id": "TRF-TWIN0001"})
    with pytest.raises(Conflict, match="live transfer"), container.uow(write=True) as uow:
        uow.exchange.insert(twin)


def test_the_database_refuses_offered_quantity_beyond_the_subject(api: Api, container: Any) -> None:
    api.offer(100)
    with container.uow(write=True) as uow:
        assert uow.subjects.reserve(MAT, 1) is False
    with pytest.raises(Exception, match=r"(?i)check"), container.engine.begin() as connection:
        connection.execute(
            text("UPDATE dna_records SET offered_micro = offered_micro + 1 WHERE id = :id"),
            {"id": MAT},
        )


def _fields(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in ExchangeRow.__dataclass_fields__}


# -- custody and fulfilment (DECISIONS 11) --------------------------------------------------------


def test_a_completed_transfer_of_the_whole_quantity_moves_the_record(
    api: Api, container: Any
) -> None:
    before = api.record()
    with container.uow() as uow:
        before_row = uow.records.get("material", MAT)
    offer_id, match_id = api.accepted_match(100)
    transfer_id = api.transfer(match_id)
    assert api.status("transfer", transfer_id, "in_transit").status_code == 200
    container.clock.advance(hours=1)
    assert api.status("transfer", transfer_id, "completed").status_code == 200
    after = api.record()
    assert after["current_city"] == "Berlin"
    assert {**after, "current_city": "Munich"} == before
    with container.uow() as uow:
        row = uow.records.get("material", MAT)
    assert row.current_city == "Berlin"
    assert row.record_hash != before_row.record_hash
    assert row.updated_us > before_row.updated_us
    assert offered_micro(container) == (0, 100_000_000)
    offer = api.get(f"offer/{offer_id}").json()
    assert offer["status"] == "withdrawn"
    history = api.get(f"material/{MAT}/history").json()
    assert [c["mode"] for c in history["custody"]] == ["move"]
    assert history["custody"][0]["to_city"] == "Berlin"
    reasons = [
        e
        for e in api.get("evidence", limit=500).json()["entries"]
        if e["subject"]["id"] == offer_id
    ]
    assert reasons[-1]["event_type"] == "offer.withdrawn"
    with container.uow() as uow:
        assert uow.history.of("offer", offer_id)[-1].reason == "fulfilled"


def test_a_completed_transfer_of_part_splits_the_record_and_keeps_the_totals(
    api: Api, container: Any
) -> None:
    api.offer(0.02, unit="t")  # another open offer that must still fit afterwards
    _, match_id = api.accepted_match(30_000, unit="g")
    api.transfer(match_id, status="completed")
    parent = api.record()
    assert parent["quantity"] == {"value": 70, "unit": "kg"}
    assert parent["current_city"] == "Munich"
    history = api.get(f"material/{MAT}/history").json()
    (entry,) = history["custody"]
    assert entry["mode"] == "split"
    child = api.record(entry["child_id"])
    assert child["quantity"] == {"value": 30, "unit": "kg"}
    assert child["current_city"] == "Berlin"
    assert child["metadata"]["parent_id"] == MAT
    assert re.fullmatch(r"MAT-DE-MUC-2026-PLASTIC-[0-9A-F]{6,}", child["id"])
    assert offered_micro(container) == (20_000_000, 70_000_000)
    assert offered_micro(container, child["id"]) == (0, 30_000_000)
    with container.uow() as uow:
        assert uow.records.get("material", child["id"]).parent_id == MAT
    child_history = api.get(f"material/{child['id']}/history").json()
    assert child_history["parent_id"] == MAT
    assert child_history["custody"] == history["custody"]


@pytest.mark.parametrize(
    ("offer_to", "route_to", "expected"),
    [("Hamburg", "Cologne", "Hamburg"), ("any", "Cologne", "Cologne"), ("any", None, "Berlin")],
)
def test_the_receiving_city(api: Api, offer_to: str, route_to: str | None, expected: str) -> None:
    _, match_id = api.accepted_match(100, to_city=offer_to)
    extra = (
        {"route": {"from_city": "Munich", "to_city": route_to, "mode": "road"}} if route_to else {}
    )
    api.transfer(match_id, status="completed", **extra)
    assert api.record()["current_city"] == expected


def test_products_flow_through_offer_match_and_transfer(api: Api) -> None:
    api.created("product", p.product(value=12))
    _, match_id = api.accepted_match(4, PRD)
    api.transfer(match_id, PRD, status="completed")
    assert api.record(PRD)["quantity"] == {"value": 8, "unit": "piece"}
    history = api.get(f"product/{PRD}/history").json()
    assert history["custody"][0]["mode"] == "split"
    assert api.record(history["custody"][0]["child_id"])["id"].startswith(
        "PRD-DE-MUC-2026-FURNITURE-"
    )


def test_history_of_an_unknown_record_is_404(api: Api) -> None:
    assert api.get("material/MAT-DE-MUC-2026-PLASTIC-FFFFFF/history").status_code == 404


def test_history_lists_availability_changes_and_offers(api: Api) -> None:
    offer_id = api.offer(5)
    api.created("material-status", p.status_update(status="reserved", reason="held for pickup"))
    history = api.get(f"material/{MAT}/history").json()
    assert [(s["previous"], s["status"], s["reason"]) for s in history["status"]] == [
        ("available", "reserved", "held for pickup")
    ]
    assert history["offers"] == [
        {"id": offer_id, "status": "open", "quantity": {"value": 5, "unit": "kg"}}
    ]
    assert history["availability"] == "reserved"


# -- evidence -------------------------------------------------------------------------------------


def test_every_change_is_one_evidence_entry_in_an_intact_chain(api: Api, container: Any) -> None:
    _, match_id = api.accepted_match(100)
    api.transfer(match_id, status="completed")
    types = [e["event_type"] for e in api.get("evidence", limit=500).json()["entries"]]
    assert types == [
        "material.registered",
        "offer.published",
        "match.proposed",
        "offer.reserved",
        "match.accepted",
        "transfer.scheduled",
        "transfer.in_transit",
        "transfer.completed",
        "material.custody_changed",
        "material.status_updated",  # the delivered record is fulfilled (withdrawn)
        "offer.withdrawn",
    ]
    assert container.evidence.verify().intact


# -- listings -------------------------------------------------------------------------------------


def test_listings_page_with_cursors_and_filter(api: Api) -> None:
    created = [api.offer(1) for _ in range(5)]
    api.status("offer", created[0], "withdrawn")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("offer", **params).json()
        seen += [o["id"] for o in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(created)
    open_ids = [o["id"] for o in api.get("offer", status="open").json()["results"]]
    assert sorted(open_ids) == sorted(created[1:])
    assert len(api.get("offer", material_id=MAT).json()["results"]) == 5
    assert api.get("offer", material_id=PRD).json()["results"] == []


@pytest.mark.parametrize(
    "params", [{"colour": "red"}, {"status": "gone"}, {"limit": 0}, {"cursor": "cur_x"}]
)
def test_bad_listing_parameters_are_400(api: Api, params: dict[str, Any]) -> None:
    assert api.get("offer", **params).status_code == 400


def test_lists_of_matches_transfers_and_status_updates_filter_by_parent(api: Api) -> None:
    offer_id, match_id = api.accepted_match()
    transfer_id = api.transfer(match_id)
    api.created("material-status", p.status_update(status="reserved"))
    assert [m["id"] for m in api.get("match", offer_id=offer_id).json()["results"]] == [match_id]
    assert [t["id"] for t in api.get("transfer", match_id=match_id).json()["results"]] == [
        transfer_id
    ]
    assert len(api.get("material-status", material_id=MAT).json()["results"]) == 1


def test_unknown_entities_are_404(api: Api) -> None:
    for path in ("offer/OFR-NOPE0000", "match/MCH-NOPE0000", "transfer/TRF-NOPE0000"):
        assert api.get(path).status_code == 404
    assert api.status("offer", "OFR-NOPE0000", "withdrawn").status_code == 404
    assert api.get("transaction/TXN-2026-01-01-999").status_code == 404


# -- transactions ---------------------------------------------------------------------------------


def test_a_transaction_answers_a_transaction_status_whose_settlement_url_resolves(api: Api) -> None:
    response = api.post("transaction", p.transaction())
    assert response.status_code == 201
    status = response.json()
    assert {"@context", "@type", "transaction_id", "status", "updated_at", "settlement_url"} <= set(
        status
    )
    assert status["@type"] == "TransactionStatus"
    assert status["status"] == "pending"
    assert status["settlement_url"] == "/api/v1/transaction/TXN-2026-06-01-001"
    read = api.client.get(status["settlement_url"])
    assert read.status_code == 200
    assert read.json()["transaction"]["id"] == "TXN-2026-06-01-001"
    assert api.post("transaction", p.transaction()).status_code == 409


def test_settlements_must_match_and_add_up(api: Api) -> None:
    assert api.post("transaction", p.settlement()).status_code == 400  # no such transaction
    api.created("transaction", p.transaction(status="confirmed"))
    short = p.settlement(final_cost=200)
    assert api.post("transaction", short).status_code == 400
    assert api.post("transaction", p.settlement(buyer="vienna.loop")).status_code == 400
    settled = api.created("transaction", p.settlement())
    assert settled["status"] == "confirmed"
    assert api.get("transaction/TXN-2026-06-01-001").json()["settlement"]["final_cost"] == 156
    assert api.post("transaction", p.settlement()).status_code == 409


def test_transaction_status_documents_move_the_transaction(api: Api) -> None:
    api.created("transaction", p.transaction())
    for state in ("confirmed", "in_transit", "delivered", "completed"):
        assert api.created("transaction", p.transaction_status(state))["status"] == state
    response = api.post("transaction", p.transaction_status("cancelled"))
    assert response.status_code == 409
    stored = api.get("transaction/TXN-2026-06-01-001").json()
    assert stored["transaction"]["status"] == "completed"
    assert [t["status"] for t in api.get("transaction", status="completed").json()["results"]] == [
        "completed"
    ]


# -- every row of the transition tables (DECISIONS 8), over HTTP ----------------------------------

# The status route refuses two transitions the offer table allows, because they would break
# "an offer is reserved exactly while it has an active match": matches reserve and release offers.
BY_INVARIANT = {("offer", "open", "reserved"), ("offer", "reserved", "open")}
ROWS = [(name, state) for name, machine in MACHINES.items() for state in machine.states]


def arrive(api: Api, machine: str, state: str, index: int) -> str:
    """A fresh entity of `machine` in `state`; returns its id (the material's for availability)."""
    if machine == "availability":
        record_id = f"MAT-DE-MUC-2026-PLASTIC-B{index:05d}"
        api.created("material", p.material(record_id))
        if state != "available":
            api.created("material-status", p.status_update(record_id, state))
        return record_id
    if machine == "transaction":
        transaction_id = f"TXN-2026-06-01-{index:03d}"
        api.created("transaction", p.transaction(transaction_id))
        for step in MACHINES["transaction"].path("pending", state)[1:]:
            assert api.status("transaction", transaction_id, step).status_code == 200
        return transaction_id
    if machine == "offer":
        if state == "reserved":
            offer_id = api.offer(1)
            api.match(offer_id)
            return offer_id
        return api.offer(1, status=state)
    if machine == "match":
        return api.match(api.offer(1), status=state)
    _, match_id = api.accepted_match(1)
    return api.transfer(match_id, status=state)


def move(api: Api, machine: str, entity_id: str, target: str) -> Any:
    if machine == "availability":
        return api.post("material-status", p.status_update(entity_id, target))
    return api.status(machine, entity_id, target)


@pytest.mark.parametrize(("machine", "state"), ROWS, ids=[f"{m}-{s}" for m, s in ROWS])
def test_every_transition_of_the_row_is_allowed_or_409(api: Api, machine: str, state: str) -> None:
    table = MACHINES[machine]
    for index, target in enumerate(table.states, start=1):
        entity_id = arrive(api, machine, state, index)
        response = move(api, machine, entity_id, target)
        if table.can(state, target) and (machine, state, target) not in BY_INVARIANT:
            assert response.status_code in (200, 201), (target, response.json())
            assert response.json()["status"] == target
        else:
            assert response.status_code == 409, (target, response.json())
            failure = error(response)
            assert failure["code"] == "CONFLICT"
            assert state in failure["message"]
            assert failure["details"]["current"] == state
