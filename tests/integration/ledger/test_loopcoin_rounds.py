# ruff: noqa: F811 (the federation fixtures are imported by name)
"""A node records every clearing round it applies, with an evidence entry, and lists them at
`GET /api/v1/clearing/rounds` (newest first, paged), on SQLite and PostgreSQL. The node under
test is munich.loop, coordinating a round with vienna.loop and berlin.loop."""

from __future__ import annotations

from typing import Any

import pytest

from loopnode.domain.errors import Conflict
from loopnode.services.ledger.ports import ObligationRow
from tests.integration.federation.test_federation_api import (  # noqa: F401 (fixtures)
    api,
    node,
)

ME, VIE, BER = "munich.loop", "vienna.loop", "berlin.loop"
ROUNDS = "/api/v1/clearing/rounds"


def entry(key: str, debtor: str, creditor: str, amount: str) -> dict[str, str]:
    return {"id": key, "debtor": debtor, "creditor": creditor, "amount": amount, "currency": "EUR"}


def hold(node: Any, *entries: dict[str, str]) -> None:
    """Store the obligations munich.loop is party to, as settlement would have."""
    with node.uow(write=True) as uow:
        for e in entries:
            cents = int(e["amount"].replace(".", ""))
            origin = "created" if e["debtor"] == ME else "received"
            uow.ledger.add_obligation(
                ObligationRow(
                    e["id"], e["debtor"], e["creditor"], cents, "EUR", origin, "open", e, 0
                )
            )


def cycle(node: Any, suffix: str, amount: str = "150.00") -> dict[str, Any]:
    """Munich owes Vienna `amount`, Vienna owes Berlin 100, Berlin owes Munich 100: a round
    clears 300.00 of it (hand-computed: 100 around the cycle)."""
    m_v = entry(f"{ME}:tx-{suffix}", ME, VIE, amount)
    v_b = entry(f"{VIE}:tx-{suffix}", VIE, BER, "100.00")
    b_m = entry(f"{BER}:tx-{suffix}", BER, ME, "100.00")
    hold(node, m_v, b_m)
    rounds = node.ledger.rounds
    return rounds.plan({ME: [m_v, b_m], VIE: [m_v, v_b], BER: [v_b, b_m]}, node.clock.now())


def auditor(node: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {node.api_keys.create('audit', role='auditor').secret}"}


def clearing_events(node: Any) -> list[Any]:
    with node.uow() as uow:
        return [e for e in uow.evidence.page(0, 500) if e.event_type == "clearing.applied"]


def test_an_applied_round_is_recorded_with_evidence_and_listed(node: Any, api: Any) -> None:
    round_ = cycle(node, "1")
    rounds = node.ledger.rounds
    answer = rounds.apply(ME, rounds.result_for(round_, ME))
    assert answer["status"] == "applied"

    listed = api.get(ROUNDS, headers=auditor(node))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["next_cursor"] is None
    (record,) = body["rounds"]
    assert record["id"] == round_["id"]
    assert record["coordinator"] == ME
    assert record["participants"] == [BER, ME, VIE]
    assert (record["total"], record["cleared"], record["remaining"]) == (
        "350.00",
        "300.00",
        "50.00",
    )
    assert record["bilateral_netting"] == "0.00"  # no pair owes both ways
    part = record["part"]
    assert part["obligations"] == sorted([f"{ME}:tx-1", f"{BER}:tx-1"])
    assert (part["owed_before"], part["owed_after"]) == ("150.00", "50.00")
    assert (part["owed_to_before"], part["owed_to_after"]) == ("100.00", "0.00")
    assert part["remaining"] == [{"debtor": ME, "creditor": VIE, "amount": "50.00"}]

    one = api.get(f"{ROUNDS}/{round_['id']}", headers=auditor(node))
    assert one.status_code == 200 and one.json() == record

    (event,) = clearing_events(node)
    assert (event.subject_type, event.subject_id, event.actor) == (
        "clearing_round",
        round_["id"],
        ME,
    )


def test_applying_the_same_round_twice_records_it_once(node: Any) -> None:
    round_ = cycle(node, "2")
    rounds = node.ledger.rounds
    document = rounds.result_for(round_, ME)
    rounds.apply(ME, document)
    again = rounds.apply(ME, document)
    assert again["cleared_obligations"] == 0 and again["new_obligations"] == 0
    assert len(rounds.history()["rounds"]) == 1
    assert len(clearing_events(node)) == 1


def test_a_refused_round_leaves_no_record(node: Any) -> None:
    first = cycle(node, "3")
    rounds = node.ledger.rounds
    rounds.apply(ME, rounds.result_for(first, ME))
    # Another round over the same, already cleared, obligations: refused, nothing recorded.
    other = {**first, "id": "another-round"}
    with pytest.raises(Conflict):
        rounds.apply(ME, rounds.result_for(other, ME))
    assert [r["id"] for r in rounds.history()["rounds"]] == [first["id"]]
    assert len(clearing_events(node)) == 1


def test_rounds_are_listed_newest_first_in_pages(node: Any, api: Any) -> None:
    rounds = node.ledger.rounds
    applied = []
    for i in range(5):
        round_ = cycle(node, f"p{i}")
        rounds.apply(ME, rounds.result_for(round_, ME))
        applied.append(round_["id"])
        if i % 2:  # rounds 0-1 and 2-3 share a time: the id breaks the tie
            node.clock.advance(seconds=1)
    headers = auditor(node)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get(ROUNDS, params=params, headers=headers).json()
        pages += 1
        seen += [r["id"] for r in page["rounds"]]
        applied_at = [r["applied_at"] for r in page["rounds"]]
        assert applied_at == sorted(applied_at, reverse=True)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(applied) and len(set(seen)) == 5
    # Newest first: round 4 alone at the latest time, then rounds 2-3, then rounds 0-1.
    assert seen[0] == applied[4]
    assert set(seen[1:3]) == {applied[2], applied[3]}
    assert set(seen[3:]) == {applied[0], applied[1]}


def test_unknown_rounds_bad_cursors_and_roles(node: Any, api: Any) -> None:
    headers = auditor(node)
    missing = api.get(f"{ROUNDS}/no-such-round", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"]
    for cursor in ("x", ":abc", "12", "9" * 30 + ":a"):
        bad = api.get(ROUNDS, params={"cursor": cursor}, headers=headers)
        assert bad.status_code == 400, (cursor, bad.text)
    assert api.get(ROUNDS, params={"limit": 0}, headers=headers).status_code == 400
    assert api.get(ROUNDS).status_code == 401
    trader = {"Authorization": f"Bearer {node.api_keys.create('t', role='trader').secret}"}
    assert api.get(ROUNDS, headers=trader).status_code == 403
    operator = {"Authorization": f"Bearer {node.api_keys.create('o').secret}"}
    assert api.get(ROUNDS, headers=operator).json() == {"rounds": [], "next_cursor": None}


def test_a_round_with_nothing_of_this_node_in_its_remainder(node: Any) -> None:
    """Everything of munich.loop cleared: its part after the round is empty."""
    round_ = cycle(node, "4", amount="100.00")
    rounds = node.ledger.rounds
    rounds.apply(ME, rounds.result_for(round_, ME))
    record = rounds.round(round_["id"])
    assert (record["total"], record["cleared"], record["remaining"]) == ("300.00", "300.00", "0.00")
    assert record["part"]["remaining"] == []
