"""A fulfilled passport leaves search and is announced unavailable (issue 15), on SQLite and
PostgreSQL: when a completed transfer moves a whole record (or splits off the moved part), the
record holding the delivered goods becomes `withdrawn` with the reason `fulfilled` (DECISIONS 11
closes its offer the same way). Listings keep it; the relay tells peers `available: false`."""

from __future__ import annotations

from typing import Any

import orjson

from tests import lifecycle_payloads as p

MAT = p.MATERIAL_ID
KEPT = "MAT-DE-MUC-2026-PLASTIC-A00002"
SEARCH = {"category": "plastic-*"}
CORE = {"entity_type": "material", "filters": {"category_prefix": "plastic"}, "limit": 10}


def _created(client: Any, auth: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    answer = client.post(f"/api/v1/{path}", json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _complete(client: Any, auth: dict[str, str], value: float, to_city: str = "Munich") -> None:
    offer = _created(client, auth, "offer", p.offer(MAT, value, to_city=to_city))
    match = _created(
        client, auth, "match", p.match(offer["id"], status="accepted", to_city=to_city)
    )
    _created(client, auth, "transfer", p.transfer(match["id"], status="completed"))


def _found(client: Any) -> tuple[list[str], list[str]]:
    protocol = client.post("/api/v1/material/search", json=SEARCH).json()
    core = client.post("/api/v1/material/search", json=CORE).json()
    return sorted(r["id"] for r in protocol["results"]), sorted(r["id"] for r in core["results"])


def test_a_wholly_transferred_material_leaves_both_search_modes(
    client: Any, auth: dict[str, str]
) -> None:
    for record_id in (MAT, KEPT):
        _created(client, auth, "material", p.material(record_id))
    assert _found(client) == ([MAT, KEPT], [MAT, KEPT])
    _complete(client, auth, 100)  # to this node's own city: it would be found right here

    assert _found(client) == ([KEPT], [KEPT])
    record = client.get(f"/api/v1/material/{MAT}").json()
    assert record["current_city"] == "Munich"  # custody still moved
    listed = client.get("/api/v1/material", params={"availability": "withdrawn"}).json()
    assert [r["id"] for r in listed["results"]] == [MAT]
    history = client.get(f"/api/v1/material/{MAT}/history").json()
    assert history["availability"] == "withdrawn"
    assert history["status"][-1]["status"] == "withdrawn"
    assert history["status"][-1]["reason"] == "fulfilled"
    evidence = client.get("/api/v1/evidence", params={"limit": 500}).json()["entries"]
    fulfilled = [e for e in evidence if e["event_type"] == "material.status_updated"]
    assert fulfilled and fulfilled[-1]["subject"] == {"type": "material", "id": MAT}


def test_a_split_keeps_the_rest_searchable_and_the_delivered_part_out(
    client: Any, auth: dict[str, str]
) -> None:
    _created(client, auth, "material", p.material(MAT))
    _complete(client, auth, 30)
    history = client.get(f"/api/v1/material/{MAT}/history").json()
    (entry,) = history["custody"]
    child = client.get(f"/api/v1/material/{entry['child_id']}/history").json()
    assert child["availability"] == "withdrawn"
    assert child["status"][-1]["reason"] == "fulfilled"
    assert history["availability"] == "available"
    assert _found(client) == ([MAT], [MAT])
    # The rest stays on offer: another offer on the parent is accepted.
    _created(client, auth, "offer", p.offer(MAT, 70))


def test_a_fulfilled_material_is_announced_unavailable_to_peers(
    client: Any, container: Any, auth: dict[str, str]
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from loopnode.protocol import keys
    from loopnode.services.federation.ports import PeerRow

    key = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    keys.save_private_key(key, container.settings.private_key_path)

    with container.uow(write=True) as uow:
        uow.federation.peers.put(
            PeerRow(
                node_id="berlin.loop",
                name="berlin",
                endpoint="https://berlin.example/api/v1",
                status="approved",
                capabilities=("material-registry",),
                created_us=0,
                updated_us=0,
            )
        )
    _created(client, auth, "material", p.material(MAT))
    announcements = container.federation.announcements
    assert announcements.relay() == 1
    container.clock.advance(seconds=5)
    _complete(client, auth, 100, to_city="Berlin")
    assert announcements.relay() == 1
    with container.uow() as uow:
        rows = uow.messaging.outbox.page(None, 0, 500)
    last = orjson.loads(rows[-1].body)
    assert (last["material"], last["available"]) == (MAT, False)
