"""Offers, matches and transfers answer their regulatory profile findings (both databases).

Like registration the findings are warnings or infos in the answer, never refusals and never
stored; unlike registration every trade answer carries the list, empty when no profile has
anything to say about it.
"""

from __future__ import annotations

import json
from typing import Any

from tests import lifecycle_payloads as p

WASTE = "MAT-DE-MUC-2026-EWASTE-9C3F02"
BATTERY = "MAT-DE-MUC-2026-BATTERY-7F2A91"
CRATE = "PRD-DE-MUC-2026-CRATE-4F8B21"
DOC_REF = "https://example.com/diwass/notifications/DE-MUC-2026-9C3F02"


def post(client: Any, auth: dict[str, str], path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/{path}", json=body, headers=auth)
    assert response.status_code in (200, 201), response.json()
    answer: dict[str, Any] = response.json()
    return answer


def found(answer: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["profile"], f["severity"], f["requirement"]) for f in answer["profile_findings"]]


def trade(
    client: Any, auth: dict[str, str], subject: str, unit: str, **transfer: Any
) -> list[dict[str, Any]]:
    """Offer, accepted match and scheduled transfer of `subject`, Munich → Berlin: the answers."""
    offer = post(client, auth, "offer", p.offer(subject, 1, unit))
    match = post(client, auth, "match", p.match(offer["id"], subject, status="accepted"))
    moved = post(client, auth, "transfer", p.transfer(match["id"], subject, **transfer))
    return [offer, match, moved]


def waste_material(**extra: Any) -> dict[str, Any]:
    return p.material(
        WASTE,
        category="ewaste-mixed",
        classification={"ewc_code": "16 02 14"},
        passport={"supported_regimes": ["waste-shipment"], "visible_to": "regulator"},
        **extra,
    )


# -- waste shipment -------------------------------------------------------------------------------
def test_a_waste_shipment_without_its_notification_document_is_a_warning(client, auth):
    post(client, auth, "material", waste_material())
    offer, match, transfer = trade(client, auth, WASTE, "kg")
    assert found(offer) == [("waste-shipment", "info", "WASTE-SHIPMENT-REQ-DOC-REF")]
    assert found(match) == [("waste-shipment", "info", "WASTE-SHIPMENT-REQ-DOC-REF")]
    assert found(transfer) == [("waste-shipment", "warning", "WASTE-SHIPMENT-REQ-DOC-REF")]
    assert "Munich to Berlin" in transfer["profile_findings"][0]["message"]
    # A warning, not a refusal: the transfer exists and moves on; the findings are not stored.
    moving = post(client, auth, f"transfer/{transfer['id']}/status", {"status": "in_transit"})
    assert found(moving) == found(transfer)
    stored = client.get(f"/api/v1/transfer/{transfer['id']}").json()
    assert "profile_findings" not in stored
    assert stored["status"] == "in_transit"


def test_a_transfer_created_completed_answers_the_findings_of_what_it_moved(client, auth):
    """The findings of a completing transfer are taken from the passport as the transfer left it
    (split, the parent staying in Munich) and from its match's cities, not read again; they
    must be what a transfer that completes later answers."""
    post(client, auth, "material", waste_material())
    *_, scheduled = trade(client, auth, WASTE, "kg")
    post(client, auth, f"transfer/{scheduled['id']}/status", {"status": "cancelled"})
    offer = post(client, auth, "offer", p.offer(WASTE, 1, "kg"))
    match = post(client, auth, "match", p.match(offer["id"], WASTE, status="accepted"))
    completed = post(client, auth, "transfer", p.transfer(match["id"], WASTE, status="completed"))

    assert found(completed) == found(scheduled)
    assert "Munich to Berlin" in completed["profile_findings"][0]["message"]
    assert client.get(f"/api/v1/offer/{offer['id']}").json()["status"] == "withdrawn"


def test_a_waste_shipment_with_its_documents_has_no_warning(client, auth):
    post(client, auth, "material", waste_material())
    *_, transfer = trade(
        client,
        auth,
        WASTE,
        "kg",
        waste_shipment_doc_ref=DOC_REF,
        passport={"visible_to": "regulator"},
        traceability={"retention_until": "2031-08-14T00:00:00Z", "document_refs": [DOC_REF]},
    )
    assert transfer["profile_findings"] == []


def test_the_transfer_rules_of_the_waste_shipment_profile_are_answered(client, auth):
    post(client, auth, "material", waste_material())
    *_, transfer = trade(
        client,
        auth,
        WASTE,
        "kg",
        waste_shipment_doc_ref=DOC_REF,
        passport={"visible_to": "public"},
    )
    assert found(transfer) == [
        ("waste-shipment", "warning", "WASTE-SHIPMENT-REQ-ACCESS-TIER-NO-PUBLIC"),
        ("waste-shipment", "info", "WASTE-SHIPMENT-REQ-RETENTION"),
        ("waste-shipment", "info", "WASTE-SHIPMENT-REQ-EVIDENCE-REFS"),
    ]


def test_waste_staying_in_its_city_is_no_shipment(client, auth):
    post(client, auth, "material", waste_material())
    offer = post(client, auth, "offer", p.offer(WASTE, 1, to_city="munich"))
    assert offer["profile_findings"] == []


# -- packaging ------------------------------------------------------------------------------------
def ppwr_crate() -> dict[str, Any]:
    return p.product(
        CRATE,
        product_category="packaging-reusable",
        name="Reusable crate",
        passport={"supported_regimes": ["ppwr"]},
    )


def test_a_ppwr_transfer_without_its_pool_cycle_gets_an_info(client, auth):
    post(client, auth, "product", ppwr_crate())
    offer, match, transfer = trade(client, auth, CRATE, "piece")
    assert offer["profile_findings"] == match["profile_findings"] == []
    assert found(transfer) == [("packaging", "info", "PACKAGING-REQ-POOL-TRACKING")]


def test_a_ppwr_transfer_with_its_pool_cycle_is_clean(client, auth):
    post(client, auth, "product", ppwr_crate())
    *_, transfer = trade(
        client, auth, CRATE, "piece", traceability={"batch_id": "POOL-CRATE-2026-CYCLE-014"}
    )
    assert transfer["profile_findings"] == []


# -- battery --------------------------------------------------------------------------------------
def test_battery_trades_answer_an_empty_list(client, auth, reference_dir):
    battery = json.loads((reference_dir / "examples/17-battery-passport-material.json").read_text())
    battery["available_from"] = "2026-05-01T08:00:00Z"
    post(client, auth, "material", battery)
    answers = trade(client, auth, BATTERY, "piece")
    assert [a["profile_findings"] for a in answers] == [[], [], []]


def test_an_untagged_trade_answers_an_empty_list(client, auth):
    post(client, auth, "material", p.material())
    answers = trade(client, auth, p.MATERIAL_ID, "kg")
    assert [a["profile_findings"] for a in answers] == [[], [], []]
