"""Screenshots of every dashboard page at desktop and phone sizes, into docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts a Munich node on loopback (SQLite in a temporary folder), seeds it with generated
passports, a material in Berlin and Vienna each, and a few trades, then photographs each page in
Debian's Chromium (`make browser`) while signed in with an operator key (the economy page with
a trader's key, showing that trader's account after 500.00 LoopCoin were issued to it).
Generated records come from a fixed random seed; minted ids differ from run to run.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from tests.e2e.dashboard_node import DashboardNode, dashboard_node, launch  # noqa: E402

from loopnode.services.registry.seeding import seed  # noqa: E402

PAGES = {
    "overview": "/",
    "registry": "/ui/registry",
    "lifecycle": "/ui/lifecycle",
    "economy": "/ui/economy",
    "evidence": "/ui/evidence",
    "federation": "/ui/federation",
}
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def populate(node: DashboardNode) -> None:
    container = node.container
    seed(container.registry, random.Random(14), container.clock.now(), 60)
    node.seed_city()
    node.material("glass-clear", 60, city="Vienna", lat=48.208, lon=16.373)
    for category, city, kg in [
        ("organic-food", "Munich", 200),
        ("paper-clean", "Berlin", 40),
        ("metal-steel", "Vienna", 90),
        ("plastic-pet", "Berlin", 25),
    ]:
        material = node.material(category, kg * 2)
        node.trade(material["id"], to_city=city, kg=kg)


def open_account(node: DashboardNode) -> tuple[str, str]:
    """A trader's LoopCoin account with coins issued to it: (trader key, account id)."""
    trader = node.container.api_keys.create("screenshot-trader", role="trader").secret
    opened = node.http.post(
        "/loopcoin/accounts", json={"kind": "user"}, headers={"Authorization": f"Bearer {trader}"}
    )
    assert opened.status_code == 201, opened.text
    account = str(opened.json()["id"])
    node.post("/loopcoin/issue", {"to": account, "amount": "500.00", "reserve_deposit": "500.00"})
    return trader, account


def shoot(node: DashboardNode, out: Path, trader: str, account: str) -> list[Path]:
    written = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for size, (width, height) in SIZES.items():
                context = browser.new_context(
                    viewport={"width": width, "height": height}, bypass_csp=True
                )
                # The operator key reads every panel, the trader's account and clearing included.
                context.add_init_script(f"sessionStorage.setItem('loopnode.apiKey', '{node.key}')")
                page = context.new_page()
                for name, path in PAGES.items():
                    page.goto(node.base + path)
                    page.wait_for_function(
                        "document.getElementById('live').textContent === 'connected'"
                    )
                    if name == "registry":
                        page.get_by_label("Category").fill("organic-*")
                        page.get_by_role("button", name="Search").click()
                    if name == "economy":
                        page.get_by_label("Account id").fill(account)
                        page.get_by_role("button", name="Show").click()
                    page.wait_for_timeout(1200)
                    target = out / f"{name}-{size}.png"
                    page.screenshot(path=str(target), full_page=True)
                    written.append(target)
                context.close()
        finally:
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, dashboard_node(Path(folder)) as node:
        populate(node)
        trader, account = open_account(node)
        for path in shoot(node, args.out, trader, account):
            print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
