"""A node served on loopback for the dashboard's browser tests and the screenshot script.

The node runs in this process (uvicorn in a thread, real clock) so the test can write through
the API while the browser watches. `browser()` launches Debian's Chromium through Playwright;
there is no downloaded browser. Without /usr/bin/chromium the tests fail under CI and skip
elsewhere (`make browser` installs it).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from loopnode.bootstrap import build
from loopnode.config import load_settings
from loopnode.protocol import keys
from loopnode.web.app import create_app

CHROMIUM = Path(os.environ.get("LOOPNODE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).resolve().parents[1] / "browser" / "axe" / "node_modules" / "axe-core"
CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
FUTURE = "2030-01-01T00:00:00Z"
PAST = "2026-01-01T08:00:00Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DashboardNode:
    """A Munich node with an API key, served on a free loopback port."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str = "",
        routers: tuple[Any, ...] = (),
        **settings: Any,
    ) -> None:
        # One browser loads every page many times a minute from one address, anonymously:
        # the default quotas (100/minute, searches 10/minute) would answer the later pages
        # with 429. Rate limits have their own tests; a test may still pass its own quotas.
        settings.setdefault("rate_limit_anonymous", "100000/minute")
        settings.setdefault("rate_limit_user", "100000/minute")
        settings.setdefault("rate_limit_search", "100000/minute")
        self.settings = load_settings(
            data_dir,
            node_id="munich.loop",
            name="Munich LOOP node",
            country="DE",
            city_code="MUC",
            city="Munich",
            lat=48.137,
            lon=11.575,
            base_url="https://munich.example",
            database_url=database_url,
            federation_worker=False,
            **settings,
        )
        keys.save_private_key(keys.generate_private_key(), self.settings.private_key_path)
        self.container = build(self.settings)
        self.container.events.heartbeat = 1.0
        self.key = self.container.api_keys.create("dashboard-tests").secret
        port = free_port()
        app = create_app(container=self.container)
        for router in routers:  # APIs of other branches, faked by their published contract
            app.include_router(router)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(
            base_url=self.base + "/api/v1",
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=10,
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, "the node did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.http.close()
        self.container.events.shutdown()
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        assert response.status_code in (200, 201, 202), (path, response.text)
        answer: dict[str, Any] = response.json()
        return answer

    # -- data ------------------------------------------------------------------------------------
    def material(
        self,
        category: str,
        value: float,
        city: str = "Munich",
        lat: float = 48.14,
        lon: float = 11.58,
        record_id: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "@context": CONTEXT,
            "@type": "MaterialDNA",
            "schema_version": "0.2.0",
            "category": category,
            "quantity": {"value": value, "unit": "kg"},
            "origin_city": city,
            "current_city": city,
            "available_from": PAST,
            "location": {"lat": lat, "lon": lon},
        }
        if record_id is not None:
            body["id"] = record_id
        return self.post("/material", body)

    def trade(self, material_id: str, to_city: str = "Berlin", kg: float = 10) -> dict[str, Any]:
        """Offer, match (accepted) and a scheduled transfer of `kg` of the material."""
        offer = self.post(
            "/offer",
            {
                "@context": CONTEXT,
                "@type": "Offer",
                "schema_version": "0.2.0",
                "material_id": material_id,
                "from_city": "Munich",
                "to_city": to_city,
                "quantity": {"value": kg, "unit": "kg"},
                "status": "open",
                "available_until": FUTURE,
            },
        )
        match = self.post(
            "/match",
            {
                "@context": CONTEXT,
                "@type": "Match",
                "schema_version": "0.2.0",
                "material_id": material_id,
                "offer_id": offer["id"],
                "from_city": "Munich",
                "to_city": to_city,
                "status": "proposed",
                "matched_at": "2026-06-01T11:00:00Z",
            },
        )
        self.post(f"/match/{match['id']}/status", {"status": "accepted"})
        return self.post(
            "/transfer",
            {
                "@context": CONTEXT,
                "@type": "Transfer",
                "schema_version": "0.2.0",
                "material_id": material_id,
                "match_id": match["id"],
                "status": "scheduled",
                "handoff_at": "2026-06-02T09:00:00Z",
            },
        )

    def seed_city(self) -> None:
        """A few Munich materials and one in Berlin, so both cities have a place on the map."""
        for index, (category, kg) in enumerate(
            [("organic-food", 500), ("plastic-pet", 120), ("metal-aluminum", 80)]
        ):
            self.material(category, kg, lat=48.10 + index * 0.03, lon=11.50 + index * 0.05)
        self.material("textile-cotton", 40, city="Berlin", lat=52.52, lon=13.405)


@contextmanager
def dashboard_node(
    data_dir: Path, database_url: str = "", routers: tuple[Any, ...] = (), **settings: Any
) -> Iterator[DashboardNode]:
    node = DashboardNode(data_dir, database_url, routers, **settings)
    node.start()
    try:
        yield node
    finally:
        node.stop()


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
