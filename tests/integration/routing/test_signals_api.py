"""LoopSignal governance over HTTP, on SQLite and PostgreSQL (DECISIONS 17)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from loopnode.domain.errors import Conflict
from tests import official
from tests.accounts import open_accounts

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
VOTER = "user:u-0001@munich.loop"


@pytest.fixture(autouse=True)
def voter_accounts(container: Any) -> None:
    """Ballots and listings name existing LoopCoin accounts (services/access/ownership.py)."""
    open_accounts(container, VOTER, *(f"user:u-{n}@munich.loop" for n in range(3)))


def proposal(*changes: tuple[str, float, float], closes: str = "2026-06-07T23:59:59Z") -> Any:
    return {
        "@context": CONTEXT,
        "@type": "SignalProposal",
        "node": "munich.loop",
        "changes": [{"category": c, "current": cur, "proposed": new} for c, cur, new in changes],
        "voting_opens": "2026-06-01T00:00:00Z",
        "voting_closes": closes,
    }


def propose(client: Any, auth: dict[str, str], *changes: tuple[str, float, float]) -> str:
    answer = client.post("/api/v1/signals/proposals", json=proposal(*changes), headers=auth)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def vote(client: Any, auth: dict[str, str], pid: str, voter: str, choice: str) -> Any:
    body = {"voter": voter, "choice": choice}
    return client.post(f"/api/v1/signals/proposals/{pid}/ballots", json=body, headers=auth)


def test_signals_are_public_schema_valid_and_have_a_default(
    client: Any, reference_dir: Path
) -> None:
    answer = client.get("/api/v1/signals")
    assert answer.status_code == 200
    document = answer.json()
    assert official.errors(reference_dir, "loopsignal.schema.json", document) == []
    assert document["@type"] == "LoopSignalConfig"
    assert document["node"] == "munich.loop"
    assert document["signals"]["default"] == 0.05


def test_a_change_whose_current_differs_from_the_value_in_force_is_400(
    client: Any, auth: dict[str, str]
) -> None:
    body = proposal(("plastic-pet", 0.2, 0.25))
    answer = client.post("/api/v1/signals/proposals", json=body, headers=auth)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "INVALID_REQUEST"


def test_the_cap_holds_across_two_proposals_of_one_period(
    client: Any, auth: dict[str, str]
) -> None:
    propose(client, auth, ("plastic-pet", 0.05, 0.11))
    second = client.post(
        "/api/v1/signals/proposals", json=proposal(("plastic-pet", 0.05, 0.1)), headers=auth
    )
    assert second.status_code == 400
    assert "already changes by 0.06" in second.json()["error"]["message"]
    propose(client, auth, ("plastic-pet", 0.05, 0.09))  # 0.06 + 0.04 = 0.10 exactly
    next_month = proposal(("plastic-pet", 0.05, 0.15), closes="2026-07-02T00:00:00Z")
    answer = client.post("/api/v1/signals/proposals", json=next_month, headers=auth)
    assert answer.status_code == 201


def test_too_large_a_change_and_a_value_above_one_are_400(
    client: Any, auth: dict[str, str]
) -> None:
    for change in (("organic-food", 0.05, 0.16), ("organic-food", 0.05, 1.5)):
        answer = client.post("/api/v1/signals/proposals", json=proposal(change), headers=auth)
        assert answer.status_code == 400, answer.text
        assert set(answer.json()["error"]) >= {"code", "message"}


def test_proposals_need_a_key(client: Any) -> None:
    body = proposal(("plastic-pet", 0.05, 0.1))
    assert client.post("/api/v1/signals/proposals", json=body).status_code == 401


def test_a_passed_vote_publishes_a_new_config_and_keeps_history(
    client: Any, auth: dict[str, str], clock: Any, reference_dir: Path
) -> None:
    pid = propose(client, auth, ("organic-food", 0.05, 0.15))
    for n, choice in enumerate(("for", "for", "against")):
        assert vote(client, auth, pid, f"user:u-{n}@munich.loop", choice).status_code == 201
    assert client.post(f"/api/v1/signals/proposals/{pid}/close", headers=auth).status_code == 409
    clock.advance(days=7)
    answer = client.post(f"/api/v1/signals/proposals/{pid}/close", headers=auth)
    assert answer.status_code == 200, answer.text
    loop_vote = answer.json()
    assert official.errors(reference_dir, "loopsignal.schema.json", loop_vote) == []
    assert loop_vote["results"] == {
        "total_eligible": 3,
        "total_voted": 3,
        "votes_for": 2,
        "votes_against": 1,
        "status": "passed",
    }
    config = client.get("/api/v1/signals").json()
    assert config["signals"]["organic-food"] == 0.15
    assert config["approved_by"]["vote_id"] == pid
    assert official.errors(reference_dir, "loopsignal.schema.json", config) == []
    history = client.get("/api/v1/signals/history").json()["results"]
    assert [h["signals"].get("organic-food") for h in history] == [0.15, None]
    listed = client.get("/api/v1/signals/proposals").json()["results"]
    assert [(p["id"], p["state"]) for p in listed] == [(pid, "passed")]
    events = [e["event_type"] for e in client.get("/api/v1/evidence").json()["entries"]]
    assert events.count("signal.config_published") == 2
    assert "signal.proposal_decided" in events
    again = client.post(f"/api/v1/signals/proposals/{pid}/close", headers=auth)
    assert again.json() == loop_vote


def test_a_failed_vote_changes_nothing(client: Any, auth: dict[str, str], clock: Any) -> None:
    pid = propose(client, auth, ("organic-food", 0.05, 0.15))
    vote(client, auth, pid, VOTER, "against")
    clock.advance(days=7)
    answer = client.post(f"/api/v1/signals/proposals/{pid}/close", headers=auth)
    assert answer.json()["results"]["status"] == "failed"
    assert "organic-food" not in client.get("/api/v1/signals").json()["signals"]


def test_a_second_ballot_by_the_same_voter_is_409(client: Any, auth: dict[str, str]) -> None:
    pid = propose(client, auth, ("plastic-pet", 0.05, 0.1))
    assert vote(client, auth, pid, VOTER, "for").status_code == 201
    again = vote(client, auth, pid, VOTER, "against")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "CONFLICT"


def test_ballots_outside_the_window_are_refused(
    client: Any, auth: dict[str, str], clock: Any
) -> None:
    body = proposal(("plastic-pet", 0.05, 0.1))
    body["voting_opens"] = "2026-06-02T00:00:00Z"
    pid = client.post("/api/v1/signals/proposals", json=body, headers=auth).json()["id"]
    assert vote(client, auth, pid, VOTER, "for").status_code == 409
    clock.advance(days=7)
    assert vote(client, auth, pid, VOTER, "for").status_code == 409
    clock.advance(days=-4)
    assert vote(client, auth, pid, VOTER, "for").status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"voter": "maria@example.com", "choice": "for"},
        {"voter": "user:u-1@berlin.loop", "choice": "for"},
        {"voter": VOTER, "choice": "maybe"},
        {"voter": VOTER, "choice": "for", "name": "Maria"},
    ],
)
def test_malformed_ballots_are_400(client: Any, auth: dict[str, str], body: Any) -> None:
    pid = propose(client, auth, ("plastic-pet", 0.05, 0.1))
    answer = client.post(f"/api/v1/signals/proposals/{pid}/ballots", json=body, headers=auth)
    assert answer.status_code == 400


def test_unknown_proposal_is_404(client: Any, auth: dict[str, str]) -> None:
    assert vote(client, auth, "SIGP-NOPE", VOTER, "for").status_code == 404


def test_one_voter_one_ballot_under_concurrency(container: Any) -> None:
    service = container.routing.signals
    created = service.propose(*([proposal(("plastic-pet", 0.05, 0.1))] * 2))
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def cast() -> None:
        barrier.wait()
        try:
            service.ballot(created["id"], {"voter": VOTER, "choice": "for"})
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=cast) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
    assert service.proposal(created["id"])["ballots"] == {"for": 1, "against": 0}
