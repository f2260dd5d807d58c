"""The §4.6 choreography matrix: the table, the node's transitions, and the rule checks."""

from __future__ import annotations

from typing import Any

import pytest

from loopnode.domain.errors import Conflict
from loopnode.protocol.coredp import choreography as ch
from tests.unit.protocol.coredp.conftest import offer_publish_body

ENVELOPE = {"sender": {"node_id": "munich.loop"}, "receiver": {"node_id": "berlin.loop"}}


def body_for(message_type: str, **changes: Any) -> dict[str, Any]:
    """A body that satisfies every rule for `message_type` (munich is the origin)."""
    rule = ch.RULES[message_type]
    body = offer_publish_body(
        message_type=message_type,
        subject={"type": rule.subject_type, "id": "X-0001"},
        state=rule.state,
        terminal=rule.terminal,
        authoritative_role=rule.author_role,
    )
    if rule.previous_state:
        body["previous_state"] = rule.previous_state
    if message_type == "transfer.ack":
        body |= {
            "final_ack_role": "origin-confirms-receiver-receipt",
            "acknowledges_message_id": "msg_transferReceive00001",
        }
    if message_type == "capabilities.response":
        body["accepted_profile_version"] = "0.1.0-lab"
    body.update(changes)
    return body


# SPEC-DIGEST §4.6, transcribed independently of the module under test.
MATRIX = {
    "capabilities.announce": ("capabilities", "origin", "announced", None, False),
    "capabilities.response": (
        "capabilities",
        "counterparty",
        "capabilities-confirmed",
        "announced",
        True,
    ),
    "offer.publish": ("offer", "origin", "offer-published", None, False),
    "offer.ack": ("offer", "counterparty", "offer-acked", "offer-published", True),
    "offer.reject": ("offer", "counterparty", "offer-rejected", "offer-published", True),
    "match.propose": ("match", "origin", "match-proposed", None, False),
    "match.accept": ("match", "counterparty", "match-accepted", "match-proposed", True),
    "match.reject": ("match", "counterparty", "match-rejected", "match-proposed", True),
    "transfer.dispatch": ("transfer", "origin", "transfer-dispatched", None, False),
    "transfer.receive": (
        "transfer",
        "counterparty",
        "transfer-received",
        "transfer-dispatched",
        False,
    ),
    "transfer.ack": ("transfer", "origin", "transfer-acked", "transfer-received", True),
}


def test_the_matrix_is_the_spec_table() -> None:
    assert {
        mt: (r.subject_type, r.author_role, r.state, r.previous_state, r.terminal)
        for mt, r in ch.RULES.items()
    } == MATRIX
    assert all(r.terminal == (r.state in ch.TERMINAL_STATES) for r in ch.RULES.values())
    recovery = {mt for mt, r in ch.RULES.items() if r.recovery_allowed}
    assert recovery == set(MATRIX) - {
        "capabilities.announce",
        "capabilities.response",
        "transfer.ack",
    }


@pytest.mark.parametrize("message_type", sorted(ch.RULES))
def test_a_well_formed_body_passes_every_check_for_its_type(message_type: str) -> None:
    body = body_for(message_type)
    author = ch.RULES[message_type].author_role
    envelope = (
        ENVELOPE
        if author == "origin"
        else {"sender": {"node_id": "berlin.loop"}, "receiver": {"node_id": "munich.loop"}}
    )
    assert ch.check_message_contract(body, envelope) == []
    assert ch.check_terminal_regression(body) == []
    assert ch.check_idempotency_retry(body) == []
    assert ch.check_stale_reordered(body) == []


def test_transitions_follow_the_matrix_and_terminal_states_absorb() -> None:
    state = ch.transition(None, "transfer.dispatch")
    state = ch.transition(state, "transfer.receive")
    assert ch.transition(state, "transfer.ack") == "transfer-acked"
    with pytest.raises(ch.UndeclaredTransition) as caught:
        ch.transition("transfer-acked", "transfer.receive")
    assert isinstance(caught.value, Conflict)
    with pytest.raises(ch.UndeclaredTransition):
        ch.transition(None, "offer.ack")
    with pytest.raises(ch.UndeclaredTransition):
        ch.transition(None, "material.register")


@pytest.mark.parametrize(
    ("changes", "failure"),
    [
        ({"subject": {"type": "match", "id": "M"}}, "offer.publish subject.type must be offer."),
        (
            {"state": "offer-acked", "terminal": True},
            "offer.publish state must be offer-published.",
        ),
        ({"terminal": True}, "state offer-published terminal must be false."),
        (
            {"authoritative_role": "counterparty"},
            "offer.publish authoritative_role must be origin.",
        ),
        ({"message_type": "offer.bogus"}, "unknown choreography message_type offer.bogus."),
    ],
)
def test_body_rules_report_in_the_upstream_wording(changes: dict[str, Any], failure: str) -> None:
    assert failure in ch.check_message_rules(body_for("offer.publish") | changes)


def test_recovery_observations_keep_the_action_and_name_the_last_accepted_message() -> None:
    body = body_for("offer.ack", state="timed-out", terminal=True, previous_state="offer-acked")
    assert "timed-out recovery observation must include last_accepted_message_id." in (
        ch.check_message_rules(body)
    )
    body |= {"last_accepted_message_id": "msg_offerAck000000000001"}
    assert ch.check_message_rules(body) == []
    body |= {"previous_state": "offer-published", "duplicate_of": "msg_offerAck000000000001"}
    failures = ch.check_message_rules(body)
    assert (
        "timed-out recovery observation for offer.ack previous_state must be offer-acked."
        in failures
    )
    assert (
        "timed-out recovery observation must not be modeled as a duplicate retry result."
        in failures
    )


def test_transfer_ack_is_a_final_acknowledgement_never_a_recovery() -> None:
    failures = ch.check_message_rules(
        body_for(
            "transfer.ack", final_ack_role=None, acknowledges_message_id="", state="partitioned"
        )
    )
    assert "transfer.ack must not be modeled as a local recovery observation." in failures
    assert (
        "transfer.ack final_ack_role must explicitly be origin-confirms-receiver-receipt."
        in failures
    )
    assert "transfer.ack must identify the transfer.receive message it acknowledges." in failures


def test_capabilities_response_must_accept_the_pinned_profile() -> None:
    body = body_for("capabilities.response", accepted_profile_version="0.2.0")
    assert "capabilities.response accepted_profile_version must be 0.1.0-lab." in (
        ch.check_message_rules(body)
    )


def test_envelope_authority_rules() -> None:
    body = body_for("offer.publish")
    swapped = {"sender": {"node_id": "berlin.loop"}, "receiver": {"node_id": "munich.loop"}}
    assert "offer.publish sender.node_id must be munich.loop." in ch.check_envelope_authority(
        body, swapped
    )
    outsider = {"sender": {"node_id": "hamburg.loop"}, "receiver": {"node_id": "berlin.loop"}}
    assert (
        "offer.publish authoritative node munich.loop is neither envelope sender nor receiver."
        in ch.check_envelope_authority(body, outsider)
    )
    same = {"sender": {"node_id": "munich.loop"}, "receiver": {"node_id": "munich.loop"}}
    assert "envelope sender and receiver must be different nodes." in (
        ch.check_envelope_authority(body, same)
    )


def test_terminal_regression_and_stale_reordering() -> None:
    assert ch.check_terminal_regression(
        {"previous_state": "offer-acked", "state": "announced"}
    ) == ["terminal state offer-acked cannot regress to announced."]
    assert ch.check_terminal_regression({"previous_state": ["x"], "state": {}}) == []
    assert ch.check_stale_reordered({"previous_state": "a", "local_state": "b"}) == [
        "reordered message previous_state a does not match local_state b."
    ]
    assert ch.check_stale_reordered({"previous_state": "a", "local_state": ""}) == []


def test_idempotency_retry_rules() -> None:
    assert "retry attempts above 1 must identify duplicate_of." in ch.check_idempotency_retry(
        {"attempt": 2}
    )
    assert "duplicate messages must include the original idempotency_key." in (
        ch.check_idempotency_retry({"duplicate_of": "msg_x"})
    )
    same = {"original_fingerprint_sha256": "a" * 64, "idempotency_fingerprint_sha256": "a" * 64}
    assert ch.check_idempotency_retry({**same, "duplicate_behavior": "stored_result"}) == []
    assert "idempotency conflict duplicates must have different idempotency fingerprints." in (
        ch.check_idempotency_retry({**same, "duplicate_behavior": "conflict"})
    )
    differ = {**same, "idempotency_fingerprint_sha256": "b" * 64}
    assert "stored_result duplicates must have identical idempotency fingerprints." in (
        ch.check_idempotency_retry({**differ, "duplicate_behavior": "stored_result"})
    )


def test_convergence_hash_matches_the_worked_example() -> None:
    assert ch.convergence_hash("TRF-DE-MUC-2026-000001", "d" * 64, "d" * 64) == (
        "454b30d34a86dc82f1027fac39e32096e61f452d2810fe9f63f20e1c917d93a2"
    )
    body = {
        "state": "transfer-acked",
        "subject": {"id": "TRF-DE-MUC-2026-000001"},
        "local_evidence_hash_sha256": "d" * 64,
        "peer_evidence_hash_sha256": "d" * 64,
        "convergence_hash_sha256": "0" * 64,
    }
    assert ch.check_transfer_convergence(body) == [
        "transfer convergence_hash_sha256 must be "
        "454b30d34a86dc82f1027fac39e32096e61f452d2810fe9f63f20e1c917d93a2."
    ]
    assert "transfer convergence evidence hashes must match." in ch.check_transfer_convergence(
        {**body, "peer_evidence_hash_sha256": "e" * 64}
    )
    assert ch.check_transfer_convergence({"state": "transfer-acked"}) == [
        "transfer-acked convergence requires local, peer, and convergence evidence hashes."
    ]
    assert ch.check_transfer_convergence({"state": "partitioned"}) == [
        "partitioned reconciliation must include last_accepted_message_id."
    ]


def test_idempotency_fingerprint_ignores_retry_bookkeeping_only() -> None:
    first = body_for("offer.publish")
    retry = first | {"attempt": 3, "duplicate_of": "msg_offerPublish000000001"}
    fingerprint = ch.idempotency_fingerprint(first, "offer.publish", "berlin.loop")
    assert fingerprint == ch.idempotency_fingerprint(retry, "offer.publish", "berlin.loop")
    changed = first | {"subject": {"type": "offer", "id": "OFF-OTHER-0001"}}
    assert fingerprint != ch.idempotency_fingerprint(changed, "offer.publish", "berlin.loop")
    assert fingerprint != ch.idempotency_fingerprint(first, "offer.publish", "hamburg.loop")
