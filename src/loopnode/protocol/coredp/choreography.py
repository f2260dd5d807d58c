"""The core-dp Offer -> Match -> Transfer choreography: the §4.6 state matrix as data.

Theory of operation (SPEC-DIGEST §4.6, §4.1 "Choreography authority" and "Idempotency";
core-dp README "Two-Node Authority and Convergence"; DECISIONS 20):

- Exactly two nodes talk: `origin_node` and `counterparty_node`. Each of the 11 choreography
  message types has one row in `RULES`: the subject type it is about, the state it announces,
  the state it requires before (`previous_state`), whether that state is terminal, and the
  role that authors it (always the authoritative role). The table is checked at import.
- A `timed-out` / `partitioned` message is a *recovery observation* over the last accepted
  action: same type, authority and sender role, `terminal: true`, `previous_state` = the
  action's own state, `last_accepted_message_id` required, never a duplicate-retry result.
  `transfer.ack` is a final acknowledgement and never a recovery observation.
- With an envelope, the sender must be the node holding the author role, the authoritative
  node must be the sender or the receiver, and the two must differ.
- Retries reuse the idempotency key with `attempt` 2..5 and name the original in
  `duplicate_of`; our fingerprint (DECISIONS 20) decides stored result versus conflict.
- Transfer finality: `transfer-acked` carries equal local and peer evidence hashes and
  `convergence_hash_sha256 = sha256(subject.id ":" local ":" peer)`.

The `check_*` functions are the upstream harness's rules, one per conformance check, and
return failure texts in its wording (empty list = pass). `transition` is the node's own use of
the same table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from loopnode.domain.errors import Conflict
from loopnode.protocol.canonical import canonical_bytes
from loopnode.protocol.coredp._js import MISSING, get, strict_eq, text, truthy

__all__ = [
    "PROFILE_VERSION",
    "RECOVERY_STATES",
    "RULES",
    "STATES",
    "TERMINAL_STATES",
    "StepRule",
    "UndeclaredTransition",
    "check_envelope_authority",
    "check_idempotency_retry",
    "check_message_contract",
    "check_message_rules",
    "check_stale_reordered",
    "check_terminal_regression",
    "check_transfer_convergence",
    "convergence_hash",
    "idempotency_fingerprint",
    "transition",
]

Role = Literal["origin", "counterparty"]
PROFILE_VERSION: Final = "0.1.0-lab"
FINAL_ACK_ROLE: Final = "origin-confirms-receiver-receipt"

STATES: Final = (
    "announced",
    "capabilities-confirmed",
    "offer-published",
    "offer-acked",
    "offer-rejected",
    "match-proposed",
    "match-accepted",
    "match-rejected",
    "transfer-dispatched",
    "transfer-received",
    "transfer-acked",
    "timed-out",
    "partitioned",
)
TERMINAL_STATES: Final = frozenset(
    {
        "capabilities-confirmed",
        "offer-acked",
        "offer-rejected",
        "match-accepted",
        "match-rejected",
        "transfer-acked",
        "timed-out",
        "partitioned",
    }
)
RECOVERY_STATES: Final = frozenset({"timed-out", "partitioned"})


class UndeclaredTransition(Conflict):
    """A message would move a conversation along a path the state matrix does not declare."""


@dataclass(frozen=True, slots=True)
class StepRule:
    """One row of the §4.6 matrix. The author role is also the authoritative role."""

    message_type: str
    subject_type: str
    state: str
    previous_state: str | None
    terminal: bool
    author_role: Role
    recovery_allowed: bool


def _rule(mt: str, subject: str, state: str, prev: str | None, author: Role) -> StepRule:
    recovery = not mt.startswith("capabilities.") and mt != "transfer.ack"
    return StepRule(mt, subject, state, prev, state in TERMINAL_STATES, author, recovery)


RULES: Final[Mapping[str, StepRule]] = {
    rule.message_type: rule
    for rule in (
        _rule("capabilities.announce", "capabilities", "announced", None, "origin"),
        _rule(
            "capabilities.response",
            "capabilities",
            "capabilities-confirmed",
            "announced",
            "counterparty",
        ),
        _rule("offer.publish", "offer", "offer-published", None, "origin"),
        _rule("offer.ack", "offer", "offer-acked", "offer-published", "counterparty"),
        _rule("offer.reject", "offer", "offer-rejected", "offer-published", "counterparty"),
        _rule("match.propose", "match", "match-proposed", None, "origin"),
        _rule("match.accept", "match", "match-accepted", "match-proposed", "counterparty"),
        _rule("match.reject", "match", "match-rejected", "match-proposed", "counterparty"),
        _rule("transfer.dispatch", "transfer", "transfer-dispatched", None, "origin"),
        _rule(
            "transfer.receive",
            "transfer",
            "transfer-received",
            "transfer-dispatched",
            "counterparty",
        ),
        _rule("transfer.ack", "transfer", "transfer-acked", "transfer-received", "origin"),
    )
}


def _check_table() -> None:
    """The matrix must be closed: every state declared, every predecessor reachable."""
    produced = {rule.state for rule in RULES.values()}
    for rule in RULES.values():
        if rule.state not in STATES or rule.state in RECOVERY_STATES:
            raise RuntimeError(f"{rule.message_type}: undeclared state {rule.state}")
        if rule.previous_state is not None and rule.previous_state not in produced:
            raise RuntimeError(f"{rule.message_type}: unreachable {rule.previous_state}")
        if rule.previous_state in TERMINAL_STATES:
            raise RuntimeError(f"{rule.message_type}: leaves terminal {rule.previous_state}")
    if not RECOVERY_STATES <= TERMINAL_STATES or not set(STATES) >= TERMINAL_STATES:
        raise RuntimeError("terminal and recovery states must be declared states")


_check_table()


def transition(local_state: str | None, message_type: str) -> str:
    """The state after accepting `message_type` in `local_state`; raises if undeclared."""
    rule = RULES.get(message_type)
    if rule is None:
        raise UndeclaredTransition(f"{message_type} is not a choreography message")
    if local_state != rule.previous_state:
        raise UndeclaredTransition(
            f"{message_type} needs state {rule.previous_state or '(none)'}, not {local_state}",
            {"authoritative_state": local_state},
        )
    return rule.state


def _is_in(value: object, states: frozenset[str]) -> bool:
    return isinstance(value, str) and value in states


def _node_for_role(body: object, role: object) -> Any:
    if role == "origin":
        return get(body, "origin_node")
    if role == "counterparty":
        return get(body, "counterparty_node")
    return MISSING


def check_message_rules(body: object) -> list[str]:
    """`core-dp-choreography-message-contract` without an envelope (body-only rules)."""
    mt = get(body, "message_type")
    rule = RULES.get(mt) if isinstance(mt, str) else None
    if rule is None:
        return [f"unknown choreography message_type {text(mt)}."]
    failures = _step_failures(body, rule)
    if not strict_eq(get(body, "authoritative_role"), rule.author_role):
        failures.append(f"{mt} authoritative_role must be {rule.author_role}.")
    failures.extend(_final_ack_failures(body, rule))
    return failures


def _step_failures(body: object, rule: StepRule) -> list[str]:
    mt, state = rule.message_type, get(body, "state")
    recovery = _is_in(state, RECOVERY_STATES)
    failures = []
    if not strict_eq(get(body, "subject", "type"), rule.subject_type):
        failures.append(f"{mt} subject.type must be {rule.subject_type}.")
    if not strict_eq(state, rule.state) and not recovery:
        failures.append(f"{mt} state must be {rule.state}.")
    if not recovery and not strict_eq(get(body, "terminal"), rule.terminal):
        failures.append(f"{mt} terminal must be {text(rule.terminal)}.")
    terminal_for_state = _is_in(state, TERMINAL_STATES)
    if not strict_eq(get(body, "terminal"), terminal_for_state):
        failures.append(f"state {text(state)} terminal must be {text(terminal_for_state)}.")
    previous = get(body, "previous_state")
    if not recovery and rule.previous_state and not strict_eq(previous, rule.previous_state):
        failures.append(f"{mt} previous_state must be {rule.previous_state}.")
    if recovery:
        failures.extend(_recovery_failures(body, rule, state))
    return failures


def _recovery_failures(body: object, rule: StepRule, state: str) -> list[str]:
    failures = []
    if not strict_eq(get(body, "previous_state"), rule.state):
        failures.append(
            f"{state} recovery observation for {rule.message_type} previous_state must be "
            f"{rule.state}."
        )
    if not truthy(get(body, "last_accepted_message_id")):
        failures.append(f"{state} recovery observation must include last_accepted_message_id.")
    if truthy(get(body, "duplicate_of")) or truthy(get(body, "duplicate_behavior")):
        failures.append(
            f"{state} recovery observation must not be modeled as a duplicate retry result."
        )
    return failures


def _final_ack_failures(body: object, rule: StepRule) -> list[str]:
    failures = []
    if rule.message_type == "transfer.ack":
        if _is_in(get(body, "state"), RECOVERY_STATES):
            failures.append("transfer.ack must not be modeled as a local recovery observation.")
        if not strict_eq(get(body, "final_ack_role"), FINAL_ACK_ROLE):
            failures.append(f"transfer.ack final_ack_role must explicitly be {FINAL_ACK_ROLE}.")
        if not truthy(get(body, "acknowledges_message_id")):
            failures.append(
                "transfer.ack must identify the transfer.receive message it acknowledges."
            )
    confirmed = strict_eq(get(body, "state"), "capabilities-confirmed")
    accepted = get(body, "accepted_profile_version")
    capabilities_response = rule.message_type == "capabilities.response"
    if capabilities_response and confirmed and not strict_eq(accepted, PROFILE_VERSION):
        failures.append(
            f"capabilities.response accepted_profile_version must be {PROFILE_VERSION}."
        )
    return failures


def check_envelope_authority(body: object, envelope: object) -> list[str]:
    """Sender = author-role node; authority is sender or receiver; sender != receiver."""
    mt = get(body, "message_type")
    rule = RULES.get(mt) if isinstance(mt, str) else None
    if rule is None:
        return [f"unknown choreography message_type {text(mt)}."]
    failures = []
    authority = _node_for_role(body, rule.author_role)
    sender, receiver = get(envelope, "sender", "node_id"), get(envelope, "receiver", "node_id")
    if not (strict_eq(sender, authority) or strict_eq(receiver, authority)):
        failures.append(
            f"{mt} authoritative node {text(authority)} is neither envelope sender nor receiver."
        )
    if not strict_eq(sender, authority):
        failures.append(f"{mt} sender.node_id must be {text(authority)}.")
    if strict_eq(receiver, sender):
        failures.append("envelope sender and receiver must be different nodes.")
    return failures


def check_message_contract(body: object, envelope: object | None = None) -> list[str]:
    """`core-dp-choreography-message-contract`: body rules, plus authority with an envelope."""
    failures = check_message_rules(body)
    known = isinstance(get(body, "message_type"), str) and get(body, "message_type") in RULES
    if envelope is not None and known:
        failures.extend(check_envelope_authority(body, envelope))
    return failures


def check_terminal_regression(body: object) -> list[str]:
    """`core-dp-choreography-terminal-regression`: terminal states are absorbing."""
    previous, state = get(body, "previous_state"), get(body, "state")
    if _is_in(previous, TERMINAL_STATES) and not _is_in(state, TERMINAL_STATES):
        return [f"terminal state {text(previous)} cannot regress to {text(state)}."]
    return []


def check_idempotency_retry(body: object) -> list[str]:
    """`core-dp-choreography-idempotency-retry`: retries name their original and match it."""
    failures = []
    attempt = get(body, "attempt")
    if _greater_than_one(attempt) and not truthy(get(body, "duplicate_of")):
        failures.append("retry attempts above 1 must identify duplicate_of.")
    if truthy(get(body, "duplicate_of")) and not truthy(get(body, "idempotency_key")):
        failures.append("duplicate messages must include the original idempotency_key.")
    same = strict_eq(
        get(body, "original_fingerprint_sha256"), get(body, "idempotency_fingerprint_sha256")
    )
    behavior = get(body, "duplicate_behavior")
    if strict_eq(behavior, "stored_result") and not same:
        failures.append("stored_result duplicates must have identical idempotency fingerprints.")
    if strict_eq(behavior, "conflict") and same:
        failures.append(
            "idempotency conflict duplicates must have different idempotency fingerprints."
        )
    return failures


def _greater_than_one(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value > 1
    try:  # JS `"2" > 1` compares numerically
        return isinstance(value, str) and float(value) > 1
    except ValueError:
        return False


def check_stale_reordered(body: object) -> list[str]:
    """`core-dp-choreography-stale-reordered`: a reordered message must fit the local state."""
    local, previous = get(body, "local_state"), get(body, "previous_state")
    if truthy(local) and not strict_eq(previous, local):
        return [
            f"reordered message previous_state {text(previous)} does not match local_state "
            f"{text(local)}."
        ]
    return []


def check_transfer_convergence(body: object) -> list[str]:
    """`core-dp-choreography-transfer-convergence`: recovery and final-ack evidence hashes."""
    state = get(body, "state")
    failures = []
    if _is_in(state, RECOVERY_STATES) and not truthy(get(body, "last_accepted_message_id")):
        failures.append(f"{state} reconciliation must include last_accepted_message_id.")
    if not strict_eq(state, "transfer-acked"):
        return failures
    local, peer = get(body, "local_evidence_hash_sha256"), get(body, "peer_evidence_hash_sha256")
    claimed = get(body, "convergence_hash_sha256")
    if not (truthy(local) and truthy(peer) and truthy(claimed)):
        failures.append(
            "transfer-acked convergence requires local, peer, and convergence evidence hashes."
        )
    elif not strict_eq(local, peer):
        failures.append("transfer convergence evidence hashes must match.")
    else:
        expected = convergence_hash(text(get(body, "subject", "id")), text(local), text(peer))
        if not strict_eq(claimed, expected):
            failures.append(f"transfer convergence_hash_sha256 must be {expected}.")
    return failures


def convergence_hash(subject_id: str, local_hash: str, peer_hash: str) -> str:
    """`sha256(subject.id + ":" + local + ":" + peer)`, lowercase hex."""
    return hashlib.sha256(f"{subject_id}:{local_hash}:{peer_hash}".encode()).hexdigest()


_NOT_FINGERPRINTED: Final = frozenset(
    {
        "attempt",
        "duplicate_of",
        "duplicate_behavior",
        "original_fingerprint_sha256",
        "idempotency_fingerprint_sha256",
    }
)


def idempotency_fingerprint(
    body: Mapping[str, Any], message_type: str, receiver_node_id: str
) -> str:
    """DECISIONS 20: what makes two deliveries under one idempotency key "the same".

    sha256 of the canonical JSON of `{"body": body minus retry bookkeeping, "message_type",
    "receiver_node_id"}`. Same fingerprint -> return the stored result; different ->
    `conflict`. Raises `CanonicalizationFailed` for bodies without an RFC 8785 form.
    """
    stripped = {k: v for k, v in body.items() if k not in _NOT_FINGERPRINTED}
    document = {
        "body": stripped,
        "message_type": message_type,
        "receiver_node_id": receiver_node_id,
    }
    return hashlib.sha256(canonical_bytes(document)).hexdigest()
