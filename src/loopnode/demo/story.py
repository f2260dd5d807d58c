"""The spec's §12.1 story on three real nodes: Munich, Berlin and Vienna, priced and paid.

Every node serves HTTPS (TLS 1.3) with a certificate from a demo CA the three trust, and keeps
its own SQLite database and keys. Munich–Berlin, Berlin–Vienna and Vienna–Munich peer. The
signals and distances are §12.1's: Munich exports organic food at 0.40, Vienna imports it at
0.20 and lies 400 km away, so Vienna's offer of 60 LC costs 104.00; Berlin imports at 0.15 over
500 km, 103.00. The story, each step a function of `Story`:

1. a Munich farm posts a demand listing; Munich registers lot 1 of spent grain at 50 LC; the
   announcement floods to Berlin and on to Vienna; both price an offer of 60 with their own
   node's `POST /loopcost` and bid; Munich's routing calculator ranks the farm (a local trade
   costs the base price only, §7.2: 50.00), Berlin and Vienna, and its overflow step gives the
   lot to the lowest LoopCost: the farm, which pays 50.00 to the brewery on confirmation;
2. lot 2 finds no local demand (the farm is served): the overflow step announces it, Vienna
   bids, the step routes it to Vienna; Vienna's buyer pays 104.00 LC-VIE on confirmation
   (12.00 to Vienna's community fund, 92.00 owed to Munich) and the signed InterNodeSettlement
   reaches Munich;
3. Munich buys Berlin's textiles and Berlin buys Vienna's paper, so the debts form a cycle;
   Munich hands Vienna glass cullet as signed core-dp envelopes; Berlin searches across the
   federation; Munich coordinates a clearing round (`loopnode clearing run`) that every node
   verifies and applies.

`report()` is what `loopnode demo --once --report FILE` writes and `check()` asks every node
whether it agrees.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from loopnode.demo.cluster import Federation, Node, NodeSpec

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
CATEGORY = "organic-food"
BASE_PRICE = "50.00"  # Munich's asking price for a lot of spent grain: what the farm pays
BID_PRICE = "60.00"  # what Berlin and Vienna offer for it (§12.1 step 4: "base_price": 60)
# §12.1: Munich's export signal 0.40, Vienna's import signal 0.20, Munich–Vienna 400 km (the
# great circle is 354 km: a road distance, configured). Berlin: 0.15 over 500 km gives the
# spec's 103.00 (60 + 24 + 9 + 10). Berlin–Vienna: 680 km by road.
CITIES = (
    NodeSpec(
        "munich",
        48.137,
        11.575,
        city="Munich",
        country="DE",
        city_code="MUC",
        settings={
            "signals": {CATEGORY: "0.40", "default": "0.05"},
            "peer_distances_km": {"vienna.loop": "400", "berlin.loop": "500"},
        },
    ),
    NodeSpec(
        "berlin",
        52.520,
        13.405,
        city="Berlin",
        country="DE",
        city_code="BER",
        settings={
            "signals": {CATEGORY: "0.15", "default": "0.05"},
            "peer_distances_km": {"munich.loop": "500", "vienna.loop": "680"},
        },
    ),
    NodeSpec(
        "vienna",
        48.208,
        16.373,
        city="Vienna",
        country="AT",
        city_code="VIE",
        settings={
            "signals": {CATEGORY: "0.20", "default": "0.05"},
            "peer_distances_km": {"munich.loop": "400", "berlin.loop": "680"},
        },
    ),
)
# Quick retries so the story runs in seconds; production keeps the defaults. Overflow steps are
# run by the story (POST /routing/step), so its windows are short and its worker is off.
DEMO_SETTINGS: dict[str, Any] = {
    "federation_poll_s": 0.1,
    "federation_retry_base_s": 0.3,
    "federation_retry_cap_s": 2.0,
    "federation_breaker_cooldown_s": 1.0,
    "federation_timeout_s": 5.0,
    "federation_search_timeout_s": 5.0,
    "overflow_local_window_s": 0.0,
    "overflow_bid_window_s": 1.0,
    "overflow_worker": False,
    # The story runs its own clearing round at the end; no scheduled round in between.
    "loopcoin_clearing_interval_h": 0.0,
}
SEED_COUNT = 10
FUNDING = "500.00"


@dataclass
class Trade:
    material_id: str
    origin_node: str
    destination_node: str
    loop_cost: str
    transaction_id: str = ""
    buyer_account: str = ""
    seller_account: str = ""
    settlement: dict[str, str] = field(default_factory=dict)


@dataclass
class Story:
    fed: Federation
    events: list[tuple[str, str]] = field(default_factory=list)
    grain_id: str = ""
    overflow_id: str = ""
    glass_id: str = ""
    accounts: dict[str, str] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    clearing: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)
    _routed: dict[str, Any] = field(default_factory=dict)
    _seeding: threading.Thread | None = None
    _seed_error: list[str] = field(default_factory=list)

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
            ("peering Munich–Berlin, Berlin–Vienna and Vienna–Munich", self.peer),
            ("seeding each city (in the background)", self.seed),
            ("opening LoopCoin accounts: the Munich farm and brewery, a Vienna buyer", self.fund),
            ("the Munich farm posts its demand; Munich registers spent grain", self.register_grain),
            ("the announcement reaches Vienna through Berlin", self.await_announcement),
            ("Berlin and Vienna price the grain by LoopCost and bid", self.bid),
            ("Munich selects the lowest LoopCost: the local farm", self.select_local),
            ("the farm pays the brewery in LoopCoin", self.settle_local),
            ("lot 2 finds no local demand and overflows to Vienna", self.overflow),
            ("Vienna pays 104.00 in LoopCoin; Munich receives the settlement", self.settle_remote),
            ("Munich buys textiles from Berlin, Berlin buys paper from Vienna", self.trade_around),
            (
                "Munich hands Vienna glass cullet: offer → match → transfer over core-dp",
                self.exchange,
            ),
            ("Berlin searches across the federation", self.cross_search),
            ("a clearing round nets the nodes' obligations", self.clear),
        ]

    # -- set-up --------------------------------------------------------------------------------
    def peer(self) -> None:
        self.fed.peer(self.munich, self.berlin, in_process=True)
        self.fed.peer(self.berlin, self.vienna, in_process=True)
        self.fed.peer(self.vienna, self.munich, in_process=True)
        for a, b in (("munich", "berlin"), ("berlin", "vienna"), ("vienna", "munich")):
            self.note(f"{a}.loop", f"peered with {b}.loop (signed handshake, approved)")

    def seed(self) -> None:
        def run() -> None:
            for node in self.fed:
                done = node.cli("seed", "--count", str(SEED_COUNT), "--seed", "12", check=False)
                if done.returncode != 0:
                    self._seed_error.append(f"{node.node_id}: seeding failed: {done.stderr}")

        self._seeding = threading.Thread(target=run, name="demo-seed", daemon=True)
        self._seeding.start()
        self.note("all", f"seeding the examples and {SEED_COUNT} records per city meanwhile")

    def fund(self) -> None:
        for key, node, kind in (
            ("farm", self.munich, "business"),
            ("brewery", self.munich, "business"),
            ("vienna_buyer", self.vienna, "business"),
            ("munich_cafe", self.munich, "business"),
            ("berlin_buyer", self.berlin, "business"),
            ("berlin_seller", self.berlin, "business"),
            ("vienna_seller", self.vienna, "business"),
        ):
            answer = _ok(node.post("/api/v1/loopcoin/accounts", json={"kind": kind}), 201)
            self.accounts[key] = str(answer["id"])
        for key, node in (
            ("farm", self.munich),
            ("vienna_buyer", self.vienna),
            ("munich_cafe", self.munich),
            ("berlin_buyer", self.berlin),
        ):
            body = {"to": self.accounts[key], "amount": FUNDING, "reserve_deposit": FUNDING}
            _ok(node.post("/api/v1/loopcoin/issue", json=body), 200, 201)
            self.note(node.node_id, f"issued {FUNDING} to {self.accounts[key]} (reserve-backed)")
        for node in self.fed:
            # A seller's node pays its sellers out of its clearing account when a buyer's node
            # reports a purchase; the obligation reimburses it later (docs/ledger.md).
            clearing = f"node:clearing@{node.node_id}"
            body = {"to": clearing, "amount": FUNDING, "reserve_deposit": FUNDING}
            _ok(node.post("/api/v1/loopcoin/issue", json=body), 200, 201)
            self.note(node.node_id, f"pre-funded {clearing} with {FUNDING}")

    # -- lot 1: local first --------------------------------------------------------------------
    def register_grain(self) -> None:
        until = _stamp(datetime.now(UTC) + timedelta(days=2))
        listing = {
            "category": CATEGORY,
            "quantity": {"value": 2, "unit": "t"},
            "max_price": BASE_PRICE,
            "valid_until": until,
            "requester": self.accounts["farm"],
            "notes": "spent grain for cattle feed",
        }
        demand = _ok(self.munich.post("/api/v1/demand", json=listing), 201)
        self.note("munich.loop", f"the farm's demand {demand['id']}: 2 t, at most {BASE_PRICE}")
        self.grain_id = self._register("spent grain from the morning brew")
        self.note("munich.loop", f"registered {self.grain_id} (2 t spent grain at {BASE_PRICE})")

    def _register(
        self,
        notes: str,
        category: str = CATEGORY,
        kg: int = 2000,
        node: Node | None = None,
        base_price: str | None = BASE_PRICE,
    ) -> str:
        node = node or self.munich
        city = node.spec.city or node.spec.name.title()
        now = _stamp(datetime.now(UTC))
        grain = {
            "@context": CONTEXT,
            "@type": "MaterialDNA",
            "schema_version": "0.2.0",
            "category": category,
            "quantity": {"value": kg, "unit": "kg"},
            "quality": 0.9,
            "origin_city": city,
            "current_city": city,
            "location": {"lat": node.spec.lat, "lon": node.spec.lon},
            "available_from": now,
            "metadata": {"source": "brewery", "notes": notes},
        }
        if base_price is not None:
            grain["base_price"] = base_price
        return str(_ok(node.post("/api/v1/material", json=grain), 201)["id"])

    def await_announcement(self) -> None:
        self._announced(self.vienna, self.grain_id)
        self.note("vienna.loop", f"received the announcement of {self.grain_id} via berlin.loop")

    def _announced(self, node: Node, material_id: str) -> None:
        def arrived() -> bool:
            listing = node.get("/api/v1/federation/materials", params={"limit": 100})
            return any(
                material_id in (item.get("material"), item.get("id"))
                for item in listing.json().get("results", [])
            )

        self.fed.wait_until(arrived, timeout=60)

    def bid(self) -> None:
        for node in (self.berlin, self.vienna):
            self._bid(node, self.grain_id)
        self._bids_arrived(self.grain_id, {"berlin.loop", "vienna.loop"})

    def _bid(self, node: Node, material_id: str) -> str:
        """`node` prices its offer with its own LoopCost API and bids that to Munich."""
        query = {
            "category": CATEGORY,
            "base_price": BID_PRICE,
            "origin_node": "munich.loop",
            "destination_node": node.node_id,
        }
        quote = _ok(node.post("/api/v1/loopcost", json=query), 200)
        total = str(quote["total"])
        until = _stamp(datetime.now(UTC) + timedelta(days=2))
        bid = {
            "to": "munich.loop",
            "material": material_id,
            "base_price": _number(BID_PRICE),
            "loop_cost": _number(total),
            "valid_until": until,
        }
        _ok(node.post("/api/v1/federation/outgoing-bids", json=bid), 202)
        parts = quote["breakdown"]
        self.note(
            node.node_id,
            f"LoopCost of {material_id}: {parts['base']} + {parts['export']} export + "
            f"{parts['import']} import + {parts['distance']} distance = {total}; bid sent",
        )
        return total

    def _bids_arrived(self, material_id: str, bidders: set[str]) -> None:
        def received() -> bool:
            listing = self.munich.get("/api/v1/federation/bids").json()["results"]
            seen = {b["bidder_node"] for b in listing if b["material_id"] == material_id}
            return bidders <= seen

        self.fed.wait_until(received, timeout=60)

    def select_local(self) -> None:
        routes = _ok(self.munich.get(f"/api/v1/material/{self.grain_id}/routes"), 200)
        firm = [c for c in routes["candidates"] if c["firm"]]
        self.selection = {
            "candidates": [{"node": c["node"], "loop_cost": c["loop_cost"]} for c in firm],
            "selected": None,
            "reason": routes["reason"],
        }
        if routes["selected"] is not None:
            chosen = routes["selected"]
            self.selection["selected"] = {"node": chosen["node"], "loop_cost": chosen["loop_cost"]}
        listed = ", ".join(f"{c['node']} {c['loop_cost']}" for c in self.selection["candidates"])
        self.note("munich.loop", f"routes of {self.grain_id}: {listed}")
        decision = self._step_until(self.grain_id, {"absorbed"})
        self.note(
            "munich.loop",
            f"overflow step: {decision['decision']} ({decision['reason']}), "
            f"match {decision.get('match_id')}",
        )

    def _step_until(self, material_id: str, decisions: set[str]) -> dict[str, Any]:
        """Run Munich's overflow step until `material_id` gets one of `decisions`."""

        def decided() -> dict[str, Any] | None:
            report = _ok(self.munich.post("/api/v1/routing/step", json={}), 200)
            for decision in report["decisions"]:
                if decision["material_id"] == material_id and decision["decision"] in decisions:
                    return dict(decision)
            return None

        found: dict[str, Any] = self.fed.wait_until(decided, timeout=60, interval=0.3)
        return found

    def settle_local(self) -> None:
        chosen = self.selection.get("selected") or {}
        _expect(chosen.get("node") == "munich.loop", f"the local buyer was not chosen: {chosen}")
        trade = Trade(self.grain_id, "munich.loop", "munich.loop", str(chosen["loop_cost"]))
        trade.buyer_account, trade.seller_account = self.accounts["farm"], self.accounts["brewery"]
        parts = {"base": trade.loop_cost, "export": "0", "import": "0", "distance": "0"}
        self._settle(self.munich, trade, parts, "LC-MUC")
        self.note(
            "munich.loop",
            f"the farm paid {trade.settlement['paid']} LC-MUC; the brewery received "
            f"{trade.settlement['seller']}",
        )

    # -- lot 2: overflow -----------------------------------------------------------------------
    def overflow(self) -> None:
        self.overflow_id = self._register("spent grain from the afternoon brew")
        self.note("munich.loop", f"registered {self.overflow_id} (2 t spent grain at {BASE_PRICE})")
        announced = self._step_until(self.overflow_id, {"announced"})
        self.note("munich.loop", f"no local demand takes {self.overflow_id}: announced to peers")
        self._announced(self.vienna, self.overflow_id)
        self._bid(self.vienna, self.overflow_id)
        self._bids_arrived(self.overflow_id, {"vienna.loop"})
        routed = self._step_until(self.overflow_id, {"routed"})
        chosen = routed["selected"]
        _expect(chosen["node"] == "vienna.loop", f"lot 2 went to {chosen['node']}, not Vienna")
        listed = ", ".join(f"{c['node']} {c['loop_cost']}" for c in routed["candidates"])
        self.note(
            "munich.loop",
            f"{self.overflow_id} routed to vienna.loop at {chosen['loop_cost']} "
            f"({routed['reason']}; candidates: {listed}; {announced['decision']} first)",
        )
        self._routed = chosen

    def settle_remote(self) -> None:
        chosen = self._routed
        trade = Trade(self.overflow_id, "munich.loop", "vienna.loop", str(chosen["loop_cost"]))
        trade.buyer_account = self.accounts["vienna_buyer"]
        trade.seller_account = self.accounts["brewery"]
        self._settle(self.vienna, trade, chosen["breakdown"], "LC-MUC")
        self.note(
            "vienna.loop",
            f"paid {trade.settlement['paid']} LC-VIE: {trade.settlement['destination_fund']} to "
            "Vienna's community fund, the rest owed to munich.loop (InterNodeSettlement, signed)",
        )

        self._owed_to(trade)

    def _settle(
        self, node: Node, trade: Trade, parts: dict[str, str], seller_currency: str
    ) -> None:
        """The buyer's node records the MaterialTransaction and confirms it: it is paid."""
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        trade.transaction_id = f"TXN-{day}-{len(self.trades) + 1:03d}"
        offer = {
            "base_price": _number(parts["base"]),
            "loop_cost": _number(trade.loop_cost),
            "breakdown": {
                "export_penalty": _number(parts["export"]),
                "import_penalty": _number(parts["import"]),
                "distance_cost": _number(parts["distance"]),
            },
        }
        document = {
            "@context": CONTEXT,
            "@type": "MaterialTransaction",
            "id": trade.transaction_id,
            "material": trade.material_id,
            "seller": trade.origin_node,
            "buyer": trade.destination_node,
            "offer": offer,
            "timestamp": _stamp(datetime.now(UTC)),
            "buyer_account": trade.buyer_account,
            "seller_account": trade.seller_account,
            "seller_currency": seller_currency,
        }
        _ok(node.post("/api/v1/transaction", json=document), 201)
        path = f"/api/v1/transaction/{trade.transaction_id}/status"
        _ok(node.post(path, json={"status": "confirmed"}), 200)
        stored = _ok(node.get(f"/api/v1/transaction/{trade.transaction_id}"), 200)
        settlement = stored.get("settlement") or {}
        _expect(bool(settlement), f"{trade.transaction_id} was confirmed but not settled")
        trade.settlement = _settlement_view(settlement)
        self.trades.append(trade)

    # -- the rest of the federation ------------------------------------------------------------
    def trade_around(self) -> None:
        """Two more cross-city purchases, so the clearing round has a cycle to net."""
        purchases = (
            (
                self.berlin,
                self.munich,
                "textile-cotton",
                "80.00",
                500,
                "berlin_seller",
                "munich_cafe",
            ),
            (
                self.vienna,
                self.berlin,
                "paper-clean",
                "50.00",
                800,
                "vienna_seller",
                "berlin_buyer",
            ),
        )
        for seller, buyer, category, base, kg, seller_key, buyer_key in purchases:
            material_id = self._register(
                f"{category} for {buyer.spec.city}", category, kg, seller, base
            )
            # The buyer's node records a trade only in a material it knows: its announcement.
            self._announced(buyer, material_id)
            query = {
                "category": category,
                "base_price": base,
                "origin_node": seller.node_id,
                "destination_node": buyer.node_id,
            }
            quote = _ok(buyer.post("/api/v1/loopcost", json=query), 200)
            trade = Trade(material_id, seller.node_id, buyer.node_id, str(quote["total"]))
            trade.buyer_account = self.accounts[buyer_key]
            trade.seller_account = self.accounts[seller_key]
            currency = f"LC-{seller.spec.city_code}"
            self._settle(buyer, trade, quote["breakdown"], currency)
            self.note(
                buyer.node_id,
                f"bought {material_id} from {seller.node_id} for {trade.loop_cost} (LoopCost)",
            )
        for trade in self.trades[-2:]:
            self._owed_to(trade)

    def _owed_to(self, trade: Trade) -> dict[str, Any]:
        """Wait until the seller's node holds the obligation the buyer's node signed."""
        seller = self.fed[trade.origin_node.removesuffix(".loop")]

        def received() -> list[dict[str, Any]]:
            return [
                o
                for o in self._obligations(seller)
                if o["debtor"] == trade.destination_node and trade.transaction_id in o["id"]
            ]

        (owed,) = self.fed.wait_until(received, timeout=60)
        self.note(
            seller.node_id, f"{trade.destination_node} owes {owed['amount']} {owed['currency']}"
        )
        return dict(owed)

    def exchange(self) -> None:
        """Munich hands Vienna a lot of glass cullet directly: signed core-dp envelopes."""
        self.glass_id = self._register(
            "glass cullet from the bottling line", category="glass-clear", kg=300, base_price=None
        )
        self.note("munich.loop", f"registered {self.glass_id} (300 kg glass cullet)")
        self.munich.cli(
            "coredp",
            "send-offer",
            "--peer",
            "vienna.loop",
            "--material",
            self.glass_id,
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
        if self._seeding is not None:
            self._seeding.join(timeout=120)
        request = {
            "entity_type": "material",
            "scope": "cross-node",
            "auth": {"mode": "node-signature"},
            "consistency": "eventual",
            "filters": {"category_prefix": CATEGORY},
            "limit": 100,
        }
        self.search = _ok(self.berlin.post("/api/v1/material/search", json=request), 200)
        queried = self.search["provenance"]["queried_nodes"]
        self.note(
            "berlin.loop", f"searched {', '.join(queried)}: {len(self.search['results'])} hits"
        )

    def clear(self) -> None:
        """Munich coordinates a clearing round with its peers (`loopnode clearing run`)."""
        obligations = [
            {k: item[k] for k in ("id", "debtor", "creditor", "amount")}
            for node in self.fed
            for item in self._obligations(node)
            if item["origin"] == "created" and item["status"] == "open"
        ]
        ran = self.munich.cli("clearing", "run", "--json", check=False)
        try:
            result = json.loads(ran.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError) as exc:
            raise StoryFailed(f"clearing run: {ran.stdout[-400:]} {ran.stderr[-400:]}") from exc
        _expect(not result.get("problems"), f"clearing run: {result.get('problems')}")
        self.clearing = {
            "cleared": result["cleared"],
            "total": result["total"],
            "bilateral_netting": result["bilateral_netting"],
            "round": result["round"],
            "participants": result["participants"],
            "obligations": sorted(obligations, key=lambda o: o["id"]),
            "remaining": result["remaining"],
        }
        self.note(
            "munich.loop",
            f"clearing round over {len(obligations)} obligations of {result['total']}: "
            f"{result['cleared']} cleared (bilateral netting alone: "
            f"{result['bilateral_netting']}); applied by {', '.join(result['applied'])}",
        )

    @staticmethod
    def _obligations(node: Node) -> list[dict[str, Any]]:
        return list(_ok(node.get("/api/v1/loopcoin/obligations"), 200)["obligations"])

    # -- the report and what every node says about it ----------------------------------------
    def report(self) -> dict[str, Any]:
        return {
            "selection": {
                "candidates": self.selection.get("candidates", []),
                "selected": self.selection.get("selected"),
            },
            "trades": [
                {
                    "material_id": t.material_id,
                    "origin_node": t.origin_node,
                    "destination_node": t.destination_node,
                    "loop_cost": t.loop_cost,
                    "settlement": t.settlement,
                }
                for t in self.trades
            ],
            "clearing": self.clearing,
        }

    def check(self) -> list[str]:
        """What differs from the report or the expected end state (empty when all agree)."""
        problems: list[str] = list(self._seed_error)
        problems += self._check_selection()
        for trade in self.trades:
            problems += self._check_trade(trade)
        problems += self._check_clearing()
        vienna_transfers = self.vienna.get("/api/v1/transfer", params={"status": "completed"})
        if not vienna_transfers.json().get("results"):
            problems.append("vienna.loop has no completed transfer")
        sources = {r.get("source_node") for r in self.search.get("results", [])}
        if "munich.loop" not in sources:
            problems.append("berlin.loop's cross-node search found nothing from munich.loop")
        for node in self.fed:
            verified = node.cli("evidence", "verify", check=False)
            if verified.returncode != 0:
                problems.append(f"{node.node_id}: evidence chain broken: {verified.stdout.strip()}")
        return problems

    def _check_selection(self) -> list[str]:
        state = _ok(self.munich.get("/api/v1/routing/overflow"), 200)["results"]
        mine = [s for s in state if s["material_id"] == self.grain_id]
        if not mine or mine[0]["state"] != "absorbed":
            return [f"munich.loop does not show {self.grain_id} absorbed locally: {mine}"]
        decision = mine[0]["decision"]
        logged = [
            {"node": c["node"], "loop_cost": c["loop_cost"]}
            for c in decision["candidates"]
            if c["kind"] in ("local-demand", "bid")
        ]
        problems = []
        if sorted(logged, key=str) != sorted(self.selection.get("candidates", []), key=str):
            problems.append(f"munich.loop logged candidates {logged}, the report has others")
        chosen = decision["selected"] or {}
        if {"node": chosen.get("node"), "loop_cost": chosen.get("loop_cost")} != self.selection.get(
            "selected"
        ):
            problems.append(f"munich.loop selected {chosen.get('node')}, the report differs")
        return problems

    def _check_trade(self, trade: Trade) -> list[str]:
        buyer = self.fed[trade.destination_node.removesuffix(".loop")]
        problems = []
        stored = buyer.get(f"/api/v1/transaction/{trade.transaction_id}").json()
        if _settlement_view(stored.get("settlement") or {}) != trade.settlement:
            problems.append(f"{buyer.node_id}: the settlement of {trade.transaction_id} differs")
        statement = buyer.get(f"/api/v1/loopcoin/accounts/{trade.buyer_account}/statement").json()
        paid = [
            e
            for e in statement.get("entries", [])
            if e["kind"] == "settlement" and Decimal(str(e["amount"])) < 0
        ]
        if [f"{-Decimal(str(e['amount'])):.2f}" for e in paid] != [trade.settlement["paid"]]:
            problems.append(f"{buyer.node_id}: {trade.buyer_account} did not pay exactly once")
        fund = buyer.get(f"/api/v1/loopcoin/accounts/node:community-fund@{buyer.node_id}").json()
        if trade.origin_node == trade.destination_node:
            return problems + self._check_payout(buyer, trade)
        if Decimal(fund.get("balance", "0")) < Decimal(trade.settlement["destination_fund"]):
            problems.append(f"{buyer.node_id}: its community fund lacks the import penalty")
        owed = sum(Decimal(trade.settlement[k]) for k in ("seller", "origin_fund", "transport"))
        seller_node = self.fed[trade.origin_node.removesuffix(".loop")]
        problems += self._check_payout(seller_node, trade)
        for node, origin in ((buyer, "created"), (seller_node, "received")):
            found = [
                o
                for o in self._obligations(node)
                if o["origin"] == origin and trade.transaction_id in o["id"]
            ]
            if [Decimal(o["amount"]) for o in found] != [owed]:
                problems.append(f"{node.node_id}: no {origin} obligation of {owed} for the trade")
        return problems

    def _check_payout(self, node: Node, trade: Trade) -> list[str]:
        """The seller's node paid the seller, its community fund and its transport account."""
        problems = []
        legs = (
            (trade.seller_account, "seller"),
            (f"node:community-fund@{node.node_id}", "origin_fund"),
            (f"node:transport@{node.node_id}", "transport"),
        )
        for account, part in legs:
            expected = Decimal(trade.settlement[part])
            if not expected:
                continue
            entries = node.get(f"/api/v1/loopcoin/accounts/{account}/statement").json()
            received = [Decimal(str(e["amount"])) for e in entries.get("entries", [])]
            if expected not in received:
                problems.append(f"{node.node_id}: {account} did not receive {expected:.2f}")
        return problems

    def _check_clearing(self) -> list[str]:
        if not self.clearing:
            return ["no clearing round ran"]
        problems = []
        total = Decimal(self.clearing["total"])
        left = sum((Decimal(o["amount"]) for o in self.clearing["remaining"]), Decimal("0"))
        if Decimal(self.clearing["cleared"]) + left != total:
            problems.append("the clearing round's cleared and remaining amounts do not add up")
        expected_left = {
            (o["debtor"], o["creditor"], f"{Decimal(o['amount']):.2f}")
            for o in self.clearing["remaining"]
        }
        for node in self.fed:
            listed = self._obligations(node)
            still_open = {
                (o["debtor"], o["creditor"], f"{Decimal(o['amount']):.2f}")
                for o in listed
                if o["status"] == "open"
            }
            mine = {o for o in expected_left if node.node_id in o[:2]}
            if still_open != mine:
                problems.append(f"{node.node_id} holds open {sorted(still_open)}, not {mine}")
            inputs = {o["id"] for o in self.clearing["obligations"]}
            uncleared = [o["id"] for o in listed if o["id"] in inputs and o["status"] != "cleared"]
            if uncleared:
                problems.append(f"{node.node_id} did not mark {uncleared} cleared")
        return problems


def _settlement_view(settlement: dict[str, Any]) -> dict[str, str]:
    """The report's view of a §7.4 Settlement: what was paid and where it went."""
    parts = settlement.get("distribution") or {}

    def amount(value: Any) -> str:
        return f"{Decimal(str(value if value is not None else 0)):.2f}"

    return {
        "paid": amount(settlement.get("final_cost")),
        "seller": amount(parts.get("seller_receives")),
        "origin_fund": amount(parts.get("seller_community_fund")),
        "destination_fund": amount(parts.get("buyer_community_fund")),
        "transport": amount(parts.get("transport_cost")),
    }


def _number(text: str) -> int | float:
    """A decimal string as the JSON number the schemas want (whole amounts stay integers)."""
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _ok(response: Any, *statuses: int) -> dict[str, Any]:
    if response.status_code not in statuses:
        raise StoryFailed(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:400]}"
        )
    body: dict[str, Any] = response.json()
    return body


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise StoryFailed(message)


class StoryFailed(RuntimeError):
    """A step of the story did not get the answer it needs."""


def federation(base_dir: Path) -> Federation:
    return Federation(base_dir, CITIES, tls=True, settings=DEMO_SETTINGS, start=True)
