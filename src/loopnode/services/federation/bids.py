"""Bids: MaterialOffers from peers for our materials (spec §8.1 `POST /federate/offer`, §12.1).

A bid is accepted (202, FederateAcceptedResponse) only for a material this node holds (else
404 with `details.searched_id`) and while its `valid_until` lies ahead (else 400). A resent
bid (same bidder, same canonical body) is the same bid and gets the same id. An operator lists
bids and accepts one, which turns it into a Match against the open Offer this node published
for that material, through the lifecycle service (`MatchMaker`); the bid then records the
match id.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from loopnode import LOOP_SPEC_VERSION
from loopnode.domain.bids import check_bid
from loopnode.domain.errors import Conflict, InvalidRequest, NotFound
from loopnode.domain.times import format_timestamp, format_utc, from_us, timestamp_or_none, to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.validation import validate_entity
from loopnode.services.federation.outbox import OFFER_PATH, dumps, enqueue
from loopnode.services.federation.ports import BidRow, FederationUowFactory
from loopnode.services.ports import Clock, EvidenceDraft
from loopnode.services.registry.identity import NodeIdentity

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
STATUSES = ("open", "accepted", "rejected", "expired")
MAX_PAGE = 100


class MatchMaker(Protocol):
    """What accepting a bid needs from the lifecycle (Offer/Match) services."""

    def open_offer_for(self, material_id: str) -> str | None:
        """The id of this node's open Offer for the material, if there is one."""

    def create_match(self, document: dict[str, Any], actor: str) -> str:
        """Create the Match; returns its id."""


class MatchingUnavailable(Conflict):
    """This node has no lifecycle service wired to turn bids into matches."""


class BidService:
    def __init__(
        self,
        uow: FederationUowFactory,
        clock: Clock,
        node: NodeIdentity,
        matches: MatchMaker | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._node = node
        self._matches = matches

    def receive(self, sender: str, payload: object) -> int:
        """Store a peer's bid; returns the accepted event id (the same for a resent bid)."""
        validate_entity(payload, "MaterialOffer")
        assert isinstance(payload, dict)
        check_bid(payload, sender)
        now = self._clock.now()
        until = timestamp_or_none(payload["valid_until"])
        if until is None or until <= now:
            raise InvalidRequest(
                "valid_until has passed: the bid is expired",
                {"valid_until": payload["valid_until"]},
            )
        material_id = payload["material"]
        digest = sha256_hex(payload)
        with self._uow(write=True) as uow:
            record = uow.records.get("material", material_id)
            if record is None or record.source_node != self._node.node_id:
                raise NotFound(
                    f"material {material_id} is not held by this node",
                    {"searched_id": material_id},
                )
            draft = BidRow(
                0,
                material_id,
                sender,
                payload,
                digest,
                to_us(until),
                "open",
                0,
                to_us(now),
                to_us(now),
            )
            stored = uow.federation.bids.add(draft)
            if stored.event_id:
                return stored.event_id
            summary = {"kind": "bid", "from": sender, "material": material_id, "bid": stored.id}
            event = uow.evidence.append(
                EvidenceDraft("node.federation_received", "node", sender, sender, digest, summary),
                now,
            )
            uow.federation.bids.update(replace(stored, event_id=event.sequence))
        return event.sequence

    def send(self, request: dict[str, Any], actor: str) -> dict[str, Any]:
        """Queue our bid for a peer's material: a MaterialOffer to `POST /federate/offer` at the
        approved peer `request["to"]`, delivered (signed, with retries) through the outbox.

        `to_city` (our city) travels as an extension field so that the seller's Match can name
        where the goods go.
        """
        peer_id = request.get("to")
        wanted: tuple[str, ...] = ("material", "base_price", "loop_cost", "valid_until")
        fields = {k: request[k] for k in wanted if k in request}
        offer: dict[str, Any] = {
            "@context": CONTEXT,
            "@type": "MaterialOffer",
            **fields,
            "from": self._node.node_id,
            "to_city": self._node.city,
        }
        validate_entity(offer, "MaterialOffer")
        check_bid(offer, self._node.node_id)
        now = self._clock.now()
        body = dumps(offer)
        with self._uow(write=True) as uow:
            peer = uow.federation.peers.get(str(peer_id)) if isinstance(peer_id, str) else None
            if peer is None or peer.status != "approved":
                raise InvalidRequest(
                    "`to` must name an approved peer: the node that holds the material",
                    {"to": peer_id},
                )
            digest = sha256_hex(offer)
            queued = enqueue(
                uow,
                [peer.node_id],
                kind="offer",
                path=OFFER_PATH,
                body=body,
                dedupe_key=f"offer:{digest}",
                now_us=to_us(now),
            )
            summary = {"kind": "bid", "to": peer.node_id, "material": offer["material"]}
            uow.evidence.append(
                EvidenceDraft("node.federation_sent", "node", peer.node_id, actor, digest, summary),
                now,
            )
        return {"status": "queued", "queued": queued, "to": peer.node_id, "offer": offer}

    def page(self, status: str | None, after: int, limit: int) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
        with self._uow() as uow:
            rows = uow.federation.bids.page(after, limit + 1, status)
        now_us = to_us(self._clock.now())
        page, more = rows[:limit], len(rows) > limit
        return {
            "results": [render(row, now_us) for row in page],
            "next_after": page[-1].id if more else None,
        }

    def accept(self, bid_id: int, actor: str) -> dict[str, Any]:
        """Turn an open bid into a Match against our open Offer for its material."""
        if self._matches is None:
            raise MatchingUnavailable(
                "accepting bids needs the lifecycle service, which this node does not run"
            )
        now = self._clock.now()
        with self._uow() as uow:
            bid = uow.federation.bids.get(bid_id)
        if bid is None:
            raise NotFound(f"no bid {bid_id}", {"searched_id": str(bid_id)})
        if bid.status != "open":
            raise Conflict(f"bid {bid_id} is {bid.status}", {"status": bid.status})
        if bid.valid_until_us <= to_us(now):
            self._set_status(bid_id, "expired", None)
            raise Conflict(f"bid {bid_id} expired", {"status": "expired"})
        offer_id = self._matches.open_offer_for(bid.material_id)
        if offer_id is None:
            raise Conflict(
                f"there is no open offer for {bid.material_id}: publish one first",
                {"material_id": bid.material_id},
            )
        match_id = self._matches.create_match(self.match_document(bid, offer_id, now), actor)
        row = self._set_status(bid_id, "accepted", match_id)
        return render(row, to_us(now))

    def match_document(self, bid: BidRow, offer_id: str, now: Any) -> dict[str, Any]:
        to_city = bid.document.get("to_city") or bid.document.get("city") or bid.bidder_node
        return {
            "@context": CONTEXT,
            "@type": "Match",
            "schema_version": LOOP_SPEC_VERSION,
            "material_id": bid.material_id,
            "offer_id": offer_id,
            "from_city": self._node.city,
            "to_city": str(to_city)[:80],
            "status": "accepted",
            "matched_at": format_utc(now),
            "metadata": {
                "bid_id": bid.id,
                "bidder_node": bid.bidder_node,
                "base_price": bid.document.get("base_price"),
                "loop_cost": bid.document.get("loop_cost"),
            },
        }

    def _set_status(self, bid_id: int, status: str, match_id: str | None) -> BidRow:
        now_us = to_us(self._clock.now())
        with self._uow(write=True) as uow:
            bid = uow.federation.bids.get(bid_id, for_update=True)
            assert bid is not None
            row = replace(bid, status=status, match_id=match_id, updated_us=now_us)
            uow.federation.bids.update(row)
        return row


def render(row: BidRow, now_us: int) -> dict[str, Any]:
    status = "expired" if row.status == "open" and row.valid_until_us <= now_us else row.status
    return {
        "id": row.id,
        "material_id": row.material_id,
        "bidder_node": row.bidder_node,
        "status": status,
        "valid_until": format_timestamp(from_us(row.valid_until_us)),
        "received_at": format_timestamp(from_us(row.received_us)),
        "match_id": row.match_id,
        "offer": row.document,
    }


class LifecycleMatchMaker:
    """`MatchMaker` over the lifecycle service (services/lifecycle/service.py)."""

    def __init__(self, lifecycle: Any) -> None:
        self._lifecycle = lifecycle

    def open_offer_for(self, material_id: str) -> str | None:
        page = self._lifecycle.list(
            "offer", {"material_id": material_id, "status": "open"}, None, 1
        )
        results = page.get("results") or []
        return str(results[0]["id"]) if results else None

    def create_match(self, document: dict[str, Any], actor: str) -> str:
        created = self._lifecycle.create("match", document, actor)
        return str(created.document["id"])
