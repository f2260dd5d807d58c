"""The spec's §12.1 story on three real nodes: Munich, Berlin and Vienna.

Munich and Berlin peer, Berlin and Vienna peer; every node serves HTTPS (TLS 1.3) with a
certificate from a demo CA the three trust, and keeps its own SQLite database and keys. Munich
registers spent grain; the announcement floods to Berlin and on to Vienna; Vienna, seeing it,
peers with Munich directly and bids; Munich answers by running the offer → match → transfer
exchange with Vienna as signed core-dp envelopes; Berlin then searches across the federation.
Each step is a function of `Story` so the CLI can show progress and `--once` can check the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loopnode.demo.cluster import Federation, Node, NodeSpec

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
CITIES = (
    NodeSpec("munich", 48.137, 11.575, city="Munich", country="DE", city_code="MUC"),
    NodeSpec("berlin", 52.520, 13.405, city="Berlin", country="DE", city_code="BER"),
    NodeSpec("vienna", 48.208, 16.373, city="Vienna", country="AT", city_code="VIE"),
)
# Quick retries so the story runs in seconds; production keeps the defaults.
DEMO_SETTINGS: dict[str, Any] = {
    "federation_poll_s": 0.2,
    "federation_retry_base_s": 0.3,
    "federation_retry_cap_s": 2.0,
    "federation_breaker_cooldown_s": 1.0,
    "federation_timeout_s": 5.0,
    "federation_search_timeout_s": 5.0,
    "rate_limits": False,  # the story polls every node many times a second
}
SEED_COUNT = 40


@dataclass
class Story:
    fed: Federation
    events: list[tuple[str, str]] = field(default_factory=list)
    grain_id: str = ""
    search: dict[str, Any] = field(default_factory=dict)

    @property
    def munich(self) -> Node:
        return self.fed["munich"]

    @property
    def berlin(self) -> Node:
        return self.fed["berlin"]

    @property
    def vienna(self) -> Node:
        return self.fed["vienna"]

    def note(self, who: str, what: str) -> None:
        self.events.append((who, what))

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("peering Munich–Berlin and Berlin–Vienna", self.peer),
            ("seeding each city", self.seed),
            ("Munich registers spent grain", self.register_grain),
            ("the announcement reaches Vienna through Berlin", self.await_announcement),
            ("Vienna peers with Munich and bids", self.bid),
            ("Munich matches: offer → match → transfer over core-dp", self.exchange),
            ("Berlin searches across the federation", self.cross_search),
        ]

    def peer(self) -> None:
        self.fed.peer(self.munich, self.berlin)
        self.fed.peer(self.berlin, self.vienna)
        self.note("munich.loop", "peered with berlin.loop (signed handshake, approved)")
        self.note("berlin.loop", "peered with vienna.loop (signed handshake, approved)")

    def seed(self) -> None:
        for node in self.fed:
            node.cli("seed", "--count", str(SEED_COUNT), "--seed", "12")
            self.note(node.node_id, f"seeded the examples and {SEED_COUNT} records")

    def register_grain(self) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        grain = {
            "@context": CONTEXT,
            "@type": "MaterialDNA",
            "schema_version": "0.2.0",
            "category": "organic-food",
            "quantity": {"value": 2, "unit": "t"},
            "quality": 0.9,
            "origin_city": "Munich",
            "current_city": "Munich",
            "location": {"lat": 48.1351, "lon": 11.582},
            "available_from": now.isoformat().replace("+00:00", "Z"),
            "metadata": {"source": "brewery", "notes": "spent grain from the morning brew"},
        }
        response = self.munich.post("/api/v1/material", json=grain)
        _expect(response.status_code == 201, f"registering grain: {response.text}")
        self.grain_id = response.json()["id"]
        self.note("munich.loop", f"registered {self.grain_id} (2 t spent grain)")

    def await_announcement(self) -> None:
        def arrived() -> bool:
            listing = self.vienna.get("/api/v1/federation/materials", params={"limit": 100})
            return any(
                self.grain_id in (item.get("material"), item.get("id"))
                for item in listing.json().get("results", [])
            )

        self.fed.wait_until(arrived, timeout=60)
        self.note("vienna.loop", f"received the announcement of {self.grain_id} via berlin.loop")

    def bid(self) -> None:
        self.fed.peer(self.vienna, self.munich)
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        bid = {
            "to": "munich.loop",
            "material": self.grain_id,
            "base_price": 40,
            "loop_cost": 52.4,
            "valid_until": until.isoformat().replace("+00:00", "Z"),
        }
        response = self.vienna.post("/api/v1/federation/outgoing-bids", json=bid)
        _expect(response.status_code == 202, f"sending the bid: {response.text}")

        def received() -> list[Any]:
            listing = self.munich.get("/api/v1/federation/bids").json()["results"]
            return [b for b in listing if b["material_id"] == self.grain_id]

        self.fed.wait_until(received, timeout=60)
        self.note("vienna.loop", f"bid 40 LC for {self.grain_id} (signed MaterialOffer)")

    def exchange(self) -> None:
        self.munich.cli(
            "coredp",
            "send-offer",
            "--peer",
            "vienna.loop",
            "--material",
            self.grain_id,
            "--to-city",
            "Vienna",
            "--through",
            "transfer",
        )

        def completed_at_vienna() -> bool:
            listing = self.vienna.get("/api/v1/transfer", params={"status": "completed"})
            return bool(listing.json().get("results"))

        self.fed.wait_until(completed_at_vienna, timeout=90)
        self.note("munich.loop", "offer published, match accepted, transfer dispatched")
        self.note("vienna.loop", "transfer received and acknowledged; evidence converged")

    def cross_search(self) -> None:
        request = {
            "entity_type": "material",
            "scope": "cross-node",
            "auth": {"mode": "node-signature"},
            "consistency": "eventual",
            "filters": {"category_prefix": "organic-food"},
            "limit": 100,
        }
        response = self.berlin.post("/api/v1/material/search", json=request)
        _expect(response.status_code == 200, f"cross-node search: {response.text}")
        self.search = response.json()
        queried = self.search["provenance"]["queried_nodes"]
        self.note(
            "berlin.loop", f"searched {', '.join(queried)}: {len(self.search['results'])} hits"
        )

    def check(self) -> list[str]:
        """What differs from the expected end state (empty when the story completed)."""
        problems: list[str] = []
        munich_transfers = self.munich.get("/api/v1/transfer", params={"status": "completed"})
        if not munich_transfers.json().get("results"):
            problems.append("munich.loop has no completed transfer")
        vienna_transfers = self.vienna.get("/api/v1/transfer", params={"status": "completed"})
        if not vienna_transfers.json().get("results"):
            problems.append("vienna.loop has no completed transfer")
        history = self.munich.get(f"/api/v1/material/{self.grain_id}/history")
        if history.status_code != 200 or not history.json().get("custody"):
            problems.append(f"munich.loop shows no custody change for {self.grain_id}")
        sources = {r.get("source_node") for r in self.search.get("results", [])}
        if "munich.loop" not in sources:
            problems.append("berlin.loop's cross-node search found nothing from munich.loop")
        for node in self.fed:
            verified = node.cli("evidence", "verify", check=False)
            if verified.returncode != 0:
                problems.append(f"{node.node_id}: evidence chain broken: {verified.stdout.strip()}")
        return problems


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise StoryFailed(message)


class StoryFailed(RuntimeError):
    """A step of the story did not get the answer it needs."""


def federation(base_dir: Path) -> Federation:
    return Federation(base_dir, CITIES, tls=True, settings=DEMO_SETTINGS)
