"""The federation as the overflow policy sees it: announce a lot, accept a bid, list remote
materials, send a bid. A thin adapter over the federation services (flooding, outbox, bids),
so that overflow reuses their signatures, TTL rules and durable delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopnode.domain.money import Money
from loopnode.domain.times import to_us
from loopnode.services.federation.outbox import ANNOUNCE_PATH, approved_peer_ids, dumps, enqueue
from loopnode.services.federation.ports import LocalMaterial
from loopnode.services.ports import Clock, RecordRow

if TYPE_CHECKING:  # bootstrap builds the federation and imports this module
    from loopnode.bootstrap import Federation

PAGE = 100


class FederationBridge:
    def __init__(self, federation: Federation, clock: Clock) -> None:
        self._federation = federation
        self._clock = clock

    def announce(self, material: RecordRow) -> int:
        now = self._clock.now()
        local = LocalMaterial(
            id=material.id,
            version=f"{material.record_hash}:{material.availability}",
            available=material.availability == "available",
            document=material.document,
            updated_us=material.updated_us,
        )
        announcement = self._federation.announcements.announcement(local, now)
        with self._federation.uow(write=True) as uow:
            return enqueue(
                uow,
                approved_peer_ids(uow),
                kind="announce",
                path=ANNOUNCE_PATH,
                body=dumps(announcement),
                dedupe_key=f"overflow:{announcement['announcement_id']}",
                now_us=to_us(now),
            )

    def accept_bid(self, bid_id: int) -> str:
        accepted = self._federation.bids.accept(bid_id, "routing")
        return str(accepted["match_id"])

    def remote_materials(self, category: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self._federation.announcements.remote_page(cursor, PAGE, None)
            found += [
                m for m in page["results"] if m.get("category") == category and m.get("available")
            ]
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    def is_peer(self, node_id: str) -> bool:
        return any(peer.node_id == node_id for peer in self._federation.peers.approved())

    def send_bid(
        self, to: str, material: str, base_price: Money, loop_cost: Money, valid_until: str
    ) -> None:
        request = {
            "to": to,
            "material": material,
            "base_price": float(base_price.to_decimal()),
            "loop_cost": float(loop_cost.to_decimal()),
            "valid_until": valid_until,
        }
        self._federation.bids.send(request, "routing")
