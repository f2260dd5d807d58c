"""The exchange rules (spec §3.6, §3.6.1; DECISIONS 8-11) as pure functions over domain values.

Which lifecycle moves are allowed and what each implies: an offer holds part of its subject's
quantity while open or reserved and is reserved exactly while one match is active on it; a
match needs a matchable offer and, once it ends, gives the offer back unless goods are moving;
a transfer needs an accepted match with no other live transfer, and completing it fulfils the
offer. `services/lifecycle/engine.py` reads and locks the rows, asks these functions, then persists;
the database constraints stay as the last line should a race slip past.

Refusals follow DECISIONS 9: what the request itself gets wrong is `InvalidRequest` (400), what
collides with the current state is `Conflict` (409).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loopnode.domain.errors import Conflict, InvalidRequest, NodeFailure
from loopnode.domain.lifecycle import MACHINES, StateMachine
from loopnode.domain.times import format_timestamp, from_us

__all__ = [
    "SUBJECT_FIELDS",
    "Held",
    "Subject",
    "check_matchable",
    "check_new_offer",
    "check_no_live_transfer",
    "check_offer_move",
    "check_offerable",
    "check_same_subject",
    "check_transfer_allowed",
    "ends_match",
    "fulfils_offer",
    "offered_after_release",
    "offered_after_reserve",
    "oversold",
    "plain_prefix",
    "require_room",
]

OFFER, MATCH, TRANSFER = MACHINES["offer"], MACHINES["match"], MACHINES["transfer"]
SUBJECT_FIELDS = ("material_id", "product_id")
DECISIONS_10 = "offers never exceed the subject (DECISIONS 10)"


@dataclass(frozen=True, slots=True)
class Held:
    """An offer, match or transfer as the rules see it: which one and in what state."""

    id: str
    status: str


@dataclass(frozen=True, slots=True)
class Subject:
    """A passport as its offers see it: its quantity and what open and reserved offers hold,
    in micro-units of its base unit."""

    id: str
    kind: str
    unit: str
    availability: str
    quantity_micro: int
    offered_micro: int


# -- offered quantity (DECISIONS 10) ---------------------------------------------------------
def offered_after_reserve(subject: Subject, micro: int) -> int | None:
    """What the subject's offers hold once a new offer of `micro` holds its part; None when
    that would exceed the subject."""
    offered = subject.offered_micro + micro
    return offered if offered <= subject.quantity_micro else None


def offered_after_release(offered_micro: int, micro: int) -> int:
    """What the offers hold once an offer of `micro` stops holding its part."""
    if not 0 <= micro <= offered_micro:  # the offers' sum is kept exactly: a bug, not a peer's
        raise NodeFailure("an offer released more quantity than the offers hold")
    return offered_micro - micro


def require_room(subject: Subject, micro: int) -> None:
    if offered_after_reserve(subject, micro) is None:
        raise oversold(subject, micro)


def oversold(subject: Subject, micro: int) -> InvalidRequest:
    return InvalidRequest(
        f"open and reserved offers of {subject.id} would exceed its quantity",
        {
            "id": subject.id,
            "unit": subject.unit,
            "available_micro": subject.quantity_micro,
            "offered_micro": subject.offered_micro,
            "requested_micro": micro,
            "rule": DECISIONS_10,
        },
    )


# -- offers -----------------------------------------------------------------------------------
def check_offerable(subject: Subject) -> None:
    """A withdrawn passport takes no new offers."""
    if subject.availability == "withdrawn":
        raise InvalidRequest(f"{subject.kind} {subject.id} is withdrawn", {"id": subject.id})


def check_new_offer(target: str, available_until: str, until_us: int, now_us: int) -> None:
    """An offer may be created open or withdrawn, not reserved; an open one must still be
    available (`available_until`, as sent, is `until_us`)."""
    if target == "reserved":
        raise InvalidRequest(
            "an offer is reserved only by a match created against it: create it open",
            {"status": target},
        )
    if target == "open" and until_us <= now_us:
        raise InvalidRequest("available_until has passed", {"available_until": available_until})


def check_offer_move(offer: Held, target: str, active_match: Held | None) -> None:
    """A move asked for by hand: matches reserve and reopen offers, so `reserved` is never
    asked for, and a reserved offer reopens only once its match has ended."""
    OFFER.check(offer.status, target)
    details = {"entity": "offer", "current": offer.status, "target": target}
    if target == "reserved":
        raise Conflict(
            f"offer {offer.id} is {offer.status}; it is reserved only by a match created "
            "against it",
            details,
        )
    if target == "open" and active_match is not None:
        raise Conflict(
            f"offer {offer.id} is reserved by match {active_match.id}; "
            "reject or expire that match to release it",
            {**details, "match_id": active_match.id},
        )


def fulfils_offer(transfer_target: str) -> bool:
    """DECISIONS 11: a completed transfer moves the goods and closes its offer as fulfilled."""
    return transfer_target == "completed"


# -- matches ----------------------------------------------------------------------------------
def check_matchable(
    offer: Held, available_until_us: int, now_us: int, active_match: Held | None
) -> None:
    """DECISIONS 9: withdrawn or past its time → 400; reserved → 409 when an active match
    holds it (the specific "one active match per offer" rule), 400 otherwise."""
    details = {"offer_id": offer.id, "current": offer.status}
    if offer.status == "withdrawn":
        raise InvalidRequest(f"offer {offer.id} is withdrawn", details)
    if available_until_us <= now_us:
        until = format_timestamp(from_us(available_until_us))
        raise InvalidRequest(f"offer {offer.id} expired at {until}", details)
    if offer.status == "reserved":
        if active_match is not None:
            raise Conflict(
                f"offer {offer.id} already has an active match ({active_match.id})",
                {**details, "match_id": active_match.id, "rule": "one active match per offer"},
            )
        raise InvalidRequest(f"offer {offer.id} is reserved", details)


def ends_match(target: str) -> bool:
    """A match entering `target` stops holding its offer (which reopens if still reserved)."""
    return target in MATCH.terminal


def check_no_live_transfer(match: Held, target: str, live: Held | None) -> None:
    """Goods on their way never reopen their offer: a match with a live transfer stays."""
    if live is not None:
        raise Conflict(
            f"match {match.id} has a {live.status} transfer ({live.id}), so it cannot become "
            f"{target}: goods in transit never reopen their offer",
            {"entity": "match", "current": match.status, "target": target, "transfer_id": live.id},
        )


# -- transfers --------------------------------------------------------------------------------
def check_transfer_allowed(match: Held, live: Held | None) -> None:
    """A transfer needs an accepted match (400) with no live transfer yet (409)."""
    if match.status != "accepted":
        raise InvalidRequest(
            f"a transfer needs an accepted match; match {match.id} is {match.status}",
            {"match_id": match.id, "current": match.status},
        )
    if live is not None:
        raise Conflict(
            f"match {match.id} already has a live transfer ({live.id}, {live.status})",
            {"match_id": match.id, "transfer_id": live.id, "rule": "one live transfer"},
        )


# -- shared -----------------------------------------------------------------------------------
def check_same_subject(
    entity: str, document: Mapping[str, Any], offer_id: str, offer_subjects: Mapping[str, Any]
) -> None:
    """A match or transfer names the same material and product as its offer, when it names
    them at all."""
    for field in SUBJECT_FIELDS:
        if field in document and document[field] != offer_subjects.get(field):
            raise InvalidRequest(
                f"the {entity}'s {field} differs from offer {offer_id}'s",
                {"field": field, "value": document[field], "offer": offer_subjects.get(field)},
            )


def plain_prefix(machine: StateMachine, states: Sequence[str]) -> tuple[list[str], list[str]]:
    """`states` (a creation path after the initial state) split where the first terminal state
    begins: the states before it have no side effects, so they need only be journaled."""
    plain: list[str] = []
    for state in states:
        if state in machine.terminal:
            break
        plain.append(state)
    return plain, list(states[len(plain) :])
