"""EPCIS 2.0 over HTTP from a real exchange, validated by GS1's schema, on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text

from loopnode.adapters.storage import migrate
from tests import lifecycle_payloads as p
from tests.epcis_schemas import gs1_errors, mapping_validator

MAT = p.MATERIAL_ID


def created(client: Any, auth: dict[str, str], path: str, body: dict[str, Any]) -> str:
    response = client.post(f"/api/v1/{path}", json=body, headers=auth)
    assert response.status_code == 201, response.json()
    return str(response.json()["id"])


def status(client: Any, auth: dict[str, str], path: str, value: str) -> None:
    response = client.post(f"/api/v1/{path}/status", json={"status": value}, headers=auth)
    assert response.status_code == 200, response.json()


@pytest.fixture
def story(client: Any, auth: dict[str, str], container: Any) -> dict[str, str]:
    """Register, status change, offer, match, transfer through to completion; plus a bystander."""
    created(client, auth, "material", p.material(value=100))
    created(client, auth, "material", p.material("MAT-DE-MUC-2026-PLASTIC-B00002", value=5))
    container.clock.advance(minutes=1)
    created(client, auth, "material-status", p.status_update(MAT, "reserved"))
    created(client, auth, "material-status", p.status_update(MAT, "available"))
    offer_id = created(client, auth, "offer", p.offer(MAT, 100))
    match_id = created(client, auth, "match", p.match(offer_id, MAT, status="accepted"))
    transfer_id = created(client, auth, "transfer", p.transfer(match_id, MAT))
    container.clock.advance(minutes=1)
    status(client, auth, f"transfer/{transfer_id}", "in_transit")
    container.clock.advance(hours=1)
    status(client, auth, f"transfer/{transfer_id}", "completed")
    return {"offer": offer_id, "match": match_id, "transfer": transfer_id}


def events(client: Any, **params: Any) -> Any:
    return client.get("/api/v1/epcis/events", params=params)


def steps(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (e["epcList"][0].split(":")[2], e["bizStep"]) for e in document["epcisBody"]["eventList"]
    ]


def test_a_passport_trace_is_a_gs1_valid_epcis_document(client, story):
    response = events(client, subject=MAT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    document = response.json()
    assert gs1_errors(document) == []
    assert document["type"] == "EPCISDocument"
    assert document["schemaVersion"] == "2.0"
    trace = steps(document)
    assert trace[0] == ("material", "commissioning")
    assert ("material", "holding") in trace  # the two status updates
    assert ("offer", "commissioning") in trace
    assert ("offer", "staging_outbound") not in trace
    assert ("match", "accepting") in trace
    assert ("transfer", "shipping") in trace
    assert ("transfer", "receiving") in trace
    every_epc = {epc for e in document["epcisBody"]["eventList"] for epc in e["epcList"]}
    assert f"urn:loop:material:{MAT}" in every_epc
    assert not any("B00002" in epc for epc in every_epc)  # the bystander is not in this trace
    for event in document["epcisBody"]["eventList"]:
        assert event["eventTimeZoneOffset"] == "+00:00"
        if event["epcList"][0].startswith("urn:loop:offer:") and event["action"] == "ADD":
            # The offer's commissioning names only the offer: an ADD would commission the rest.
            assert event["epcList"] == [f"urn:loop:offer:{story['offer']}"]
        else:
            assert f"urn:loop:material:{MAT}" in event["epcList"]


def test_dispatch_matches_the_core_dp_mapping(client, story, reference_dir: Path):
    document = events(client, subject=story["transfer"]).json()
    (dispatched,) = [e for e in document["epcisBody"]["eventList"] if e["bizStep"] == "shipping"]
    assert dispatched["disposition"] == "in_transit"
    assert dispatched["readPoint"] == {"id": "urn:loop:node:munich.loop"}
    fixture = {
        "fixture_id": "loopnode-dispatch",
        "pinned_versions": {"epcis": "2.0.1", "cbv": "2.0"},
        "core_dp_mapping": {
            "evidence_event_type": "transfer-dispatched",
            "subject_type": "transfer",
            "subject_id": story["transfer"],
        },
        "epcis_subset_event": dispatched,
    }
    assert list(mapping_validator(reference_dir).iter_errors(fixture)) == []


def test_an_offer_published_matches_the_core_dp_mapping(client, story, reference_dir: Path):
    document = events(client, subject=story["offer"]).json()
    published = document["epcisBody"]["eventList"][0]
    assert (published["action"], published["bizStep"]) == ("ADD", "commissioning")
    fixture = {
        "fixture_id": "loopnode-offer-published",
        "pinned_versions": {"epcis": "2.0.1", "cbv": "2.0"},
        "core_dp_mapping": {
            "evidence_event_type": "offer-published",
            "subject_type": "offer",
            "subject_id": story["offer"],
        },
        "epcis_subset_event": published,
    }
    assert list(mapping_validator(reference_dir).iter_errors(fixture)) == []
    assert gs1_errors(document) == []


def test_migration_0007a_forgets_ids_an_earlier_mapping_indexed(client, story, container):
    """Ids are hashes of the event: after a mapping change the index must be refilled."""
    published = events(client, subject=story["offer"]).json()["epcisBody"]["eventList"][0]
    path = f"/api/v1/epcis/events/{quote(published['eventID'], safe='')}"
    assert client.get(path).status_code == 200  # fills the index up to the newest entry
    with container.engine.begin() as connection:
        # What the earlier mapping left behind: other ids for the same entries, the 0007 tip.
        sequences = connection.execute(text("SELECT sequence FROM epcis_event_index")).scalars()
        stale = [{"e": f"ni:///sha-256;{n:064x}", "n": n} for n in sequences]
        connection.execute(text("DELETE FROM epcis_event_index"))
        connection.execute(
            text("INSERT INTO epcis_event_index (event_id, sequence) VALUES (:e, :n)"), stale
        )
        connection.execute(
            text("UPDATE alembic_version SET version_num = '0007' WHERE version_num = '0007a'")
        )
    assert client.get(path).status_code == 404  # below the watermark: never recomputed
    migrate.upgrade(container.engine)
    assert client.get(path).json()["eventID"] == published["eventID"]


def test_event_ids_are_stable_unique_and_resolvable(client, story):
    first = events(client).json()["epcisBody"]["eventList"]
    again = events(client).json()["epcisBody"]["eventList"]
    ids = [e["eventID"] for e in first]
    assert ids == [e["eventID"] for e in again]
    assert len(ids) == len(set(ids))
    for event in first[:3] + first[-2:]:
        one = client.get(f"/api/v1/epcis/events/{quote(event['eventID'], safe='')}")
        assert one.status_code == 200
        assert one.json() == {
            "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
            **event,
        }
        assert gs1_errors(one.json()) == []
    bare = client.get(f"/api/v1/epcis/events/{ids[0].split(';')[1]}")
    assert bare.status_code == 200


def test_unknown_or_malformed_event_ids_are_404(client, story):
    for event_id in ("ni:///sha-256;" + "0" * 64, "nonsense"):
        response = client.get(f"/api/v1/epcis/events/{quote(event_id, safe='')}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"


def test_paging_walks_every_event_once(client, story):
    everything = [e["eventID"] for e in events(client).json()["epcisBody"]["eventList"]]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    for _ in range(20):
        response = events(client, **params)
        seen += [e["eventID"] for e in response.json()["epcisBody"]["eventList"]]
        token = response.headers.get("GS1-Next-Page-Token")
        if token is None:
            break
        assert 'rel="next"' in response.headers["link"]
        params = {"limit": 3, "cursor": token}
    assert seen == everything


def test_from_and_until_bound_event_time(client, story):
    everything = events(client).json()["epcisBody"]["eventList"]
    times = sorted({e["eventTime"] for e in everything})
    assert len(times) >= 3
    middle = times[1]
    later = events(client, **{"from": middle}).json()["epcisBody"]["eventList"]
    assert later and all(e["eventTime"] >= middle for e in later)
    earlier = events(client, until=middle).json()["epcisBody"]["eventList"]
    assert earlier and all(e["eventTime"] <= middle for e in earlier)
    assert len(later) + len(earlier) > len(everything) - 1


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"until": "2026-13-01T00:00:00Z"},
        {"cursor": "-1"},
        {"limit": 0},
        {"limit": 501},
        {"subject": "x" * 200},
    ],
)
def test_bad_parameters_are_400_not_500(client, params):
    response = events(client, **params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


def test_subject_may_be_given_as_its_epc(client, story):
    plain = events(client, subject=MAT).json()["epcisBody"]["eventList"]
    urn = events(client, subject=f"urn:loop:material:{MAT}").json()["epcisBody"]["eventList"]
    assert plain == urn
