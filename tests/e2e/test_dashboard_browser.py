"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright).

One node and one browser serve the whole module; each test opens its own page. Under CI
(CI=true) a missing Chromium or axe-core is a failure, not a skip: `make browser` installs both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loopnode.web.dashboard import FEATURES
from tests.e2e.dashboard_node import AXE, CHROMIUM, DashboardNode, dashboard_node, launch

pytestmark = pytest.mark.timeout(120)

PAGES = ["/", "/ui/registry", "/ui/lifecycle", "/ui/economy", "/ui/evidence", "/ui/federation"]
WAIT = 10_000  # ms


def _missing(what: str) -> None:
    message = f"{what} is missing: run `make browser`"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardNode]:
    with dashboard_node(tmp_path_factory.mktemp("dashboard")) as served:
        served.seed_city()
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _missing(f"Chromium ({CHROMIUM})")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch(playwright)
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page that records console errors and uncaught exceptions."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    # bypass_csp lets the axe scan inject its script; the pages' own CSP is tested elsewhere.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    try:
        yield Watched(context.new_page())
    finally:
        context.close()


def _open(watched: Watched, node: DashboardNode, path: str) -> Any:
    page = watched.page
    page.goto(node.base + path)
    page.wait_for_function(
        "document.getElementById('live').textContent === 'connected'", timeout=WAIT
    )
    return page


@pytest.mark.parametrize("path", PAGES)
def test_each_page_loads_with_its_panels_and_no_console_errors(
    page: Watched, node: DashboardNode, path: str
) -> None:
    opened = _open(page, node, path)
    opened.wait_for_timeout(500)  # let the panels' requests finish
    assert opened.title().endswith("LOOP dashboard")
    assert opened.locator("h1").count() == 1
    assert page.errors == []


def test_a_search_finds_a_material_and_links_its_passport(
    page: Watched, node: DashboardNode
) -> None:
    opened = _open(page, node, "/ui/registry")
    # The page opens with an unfiltered search (Berlin included): let it finish first, so the
    # rows checked below are the filtered search's, not the opening list's.
    opened.wait_for_function(
        "document.getElementById('search-status').dataset.kind === 'ok'", timeout=WAIT
    )
    opened.get_by_label("Category").fill("organic-*")
    opened.get_by_label("Radius (km around Munich)").fill("50")
    with opened.expect_response(
        lambda r: r.url.endswith("/material/search") and r.request.method == "POST",
        timeout=WAIT,
    ) as searched:
        opened.get_by_role("button", name="Search").click()
    total = searched.value.json()["total"]
    assert total >= 1
    opened.locator("#search-status", has_text=f"{total} found").wait_for(timeout=WAIT)
    row = opened.locator("#results tbody tr", has_text="organic-food")
    row.first.wait_for(timeout=WAIT)
    assert opened.locator("#results tbody tr", has_text="textile-cotton").count() == 0  # Berlin
    link = row.first.locator("a")
    href = link.get_attribute("href")
    # The node serves the DPP resolver, so the passport link is its /dpp/{id} page.
    assert href is not None and href.startswith("/dpp/MAT-DE-MUC-")
    material_id = href.removeprefix("/dpp/")
    assert node.http.get(f"/material/{material_id}").json()["category"] == "organic-food"
    passport = node.http.get(node.base + href)
    assert passport.status_code == 200
    assert material_id in passport.text
    # The LoopCost API is served too, so its filter is offered rather than explained away.
    assert opened.get_by_label("Maximum LoopCost").is_enabled()
    assert "LoopCost included" in opened.inner_text("#max-cost-help")


def test_a_transfer_made_through_the_api_appears_on_the_board_and_map_without_reload(
    page: Watched, node: DashboardNode
) -> None:
    opened = _open(page, node, "/")
    opened.locator("#map .city-point").first.wait_for(timeout=WAIT)
    opened.evaluate("window.__sameDocument = true")
    material = node.material("paper-clean", 30)
    transfer = node.trade(material["id"], to_city="Berlin")
    card = opened.locator(f"#board-transfer [data-id='{transfer['id']}']")
    card.wait_for(timeout=WAIT)
    assert "scheduled" in card.inner_text()
    flow = opened.locator(f"#map path.flow-{transfer['id']}")
    flow.wait_for(state="attached", timeout=WAIT)
    assert opened.locator(f"#flows-table tr[data-transfer='{transfer['id']}']").count() == 1
    assert "Berlin" in (
        opened.text_content(f"#flows-table tr[data-transfer='{transfer['id']}']") or ""
    )
    assert opened.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.errors == []


def test_the_evidence_panel_shows_the_chain_verified(page: Watched, node: DashboardNode) -> None:
    opened = _open(page, node, "/ui/evidence")
    status = opened.locator("#evidence-status")
    opened.wait_for_function(
        "document.getElementById('evidence-status').dataset.kind === 'ok'", timeout=WAIT
    )
    entries = node.http.get("/evidence/verify").json()["entries"]
    assert f"the hash chain of {entries} entries is intact" in status.inner_text()
    assert opened.locator("#evidence-entries tbody tr").count() == min(entries, 50)


def test_economic_panels_load_and_the_clearing_panel_asks_for_a_key_when_signed_out(
    page: Watched, node: DashboardNode
) -> None:
    """Every economic API is served here now (LoopCoin, LoopSignal, clearing rounds); the
    clearing rounds are an operator/auditor read, so a signed-out visitor is asked for a key
    instead of seeing a 401 (the economy page's own tests cover the charts)."""
    opened = _open(page, node, "/ui/economy")
    opened.wait_for_function(
        "document.getElementById('signals-status').textContent.startsWith('In force')",
        timeout=WAIT,
    )
    for panel in ("signals", "proposals", "supply", "clearing"):
        assert "Not available on this node" not in opened.inner_text(f"#{panel}-status")
    assert "Sign in with an operator or auditor API key" in opened.inner_text("#clearing-status")
    assert page.errors == []


def test_economic_panels_show_live_data_from_the_node(page: Watched, node: DashboardNode) -> None:
    trader = node.container.api_keys.create("economy-trader", role="trader").secret
    opened_account = node.http.post(
        "/loopcoin/accounts", json={"kind": "user"}, headers={"Authorization": f"Bearer {trader}"}
    )
    assert opened_account.status_code == 201, opened_account.text
    account_id = opened_account.json()["id"]
    opened = _open(page, node, "/ui/economy")
    for panel in ("signals", "proposals", "supply"):
        opened.wait_for_function(
            f"document.getElementById('{panel}-status').dataset.kind === 'ok'", timeout=WAIT
        )
    signals = node.http.get("/signals").json()
    assert signals["valid_from"][:10] in opened.inner_text("#signals-status")
    proposals = node.http.get("/signals/proposals").json()
    count = len(proposals if isinstance(proposals, list) else proposals.get("proposals", []))
    assert f"{count} proposal(s)." in opened.inner_text("#proposals-status")
    currency = node.http.get("/loopcoin/config").json()["currency_code"]
    assert f"{currency} issued by" in opened.inner_text("#supply-status")
    # Account and clearing reads need an auditor key (a trader sees only what it holds),
    # given through the page's sign-in field.
    auditor = node.container.api_keys.create("economy-auditor", role="auditor").secret
    opened.get_by_label("API key").fill(auditor)
    opened.get_by_role("button", name="Sign in").click()
    opened.get_by_label("Account id").fill(account_id)
    opened.get_by_role("button", name="Show").click()
    balance = node.http.get(
        f"/loopcoin/accounts/{account_id}", headers={"Authorization": f"Bearer {trader}"}
    ).json()["balance"]
    opened.locator("#account-balance", has_text=account_id).wait_for(timeout=WAIT)
    assert opened.inner_text("#account-balance") == f"Balance of {account_id}: {balance}"
    assert "Not available" not in opened.inner_text("#account-status")
    chart = opened.locator("#decay-chart svg")
    chart.wait_for(timeout=WAIT)
    assert chart.locator("circle").count() == 7  # now and six projections, none refused
    assert "1e-9" not in (chart.text_content() or "")  # the labelled maximum is a balance
    assert page.errors == []


def test_economic_panels_say_plainly_when_their_api_is_absent(
    page: Watched, node: DashboardNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A node without the economy: each feature's proving route is one this app does not serve.
    for feature in ("signals", "proposals", "loopcoin", "supply", "accounts", "clearing"):
        monkeypatch.setitem(FEATURES, feature, f"/api/v1/not-served-{feature}")
    opened = _open(page, node, "/ui/economy")
    for panel in ("signals", "proposals", "supply", "account", "clearing"):
        assert "Not available on this node" in opened.inner_text(f"#{panel}-status")
    assert opened.get_by_role("button", name="Show").is_disabled()
    assert page.errors == []


def test_operator_panels_ask_for_a_key_then_show_the_outbox_once_signed_in(
    page: Watched, node: DashboardNode
) -> None:
    opened = _open(page, node, "/ui/federation")
    assert "Sign in with an operator API key" in opened.inner_text("#outbox-status")
    opened.get_by_label("API key").fill(node.key)
    opened.get_by_role("button", name="Sign in").click()
    opened.wait_for_function(
        "document.getElementById('outbox-status').textContent.startsWith('Outbox depth')",
        timeout=WAIT,
    )
    assert opened.evaluate("sessionStorage.getItem('loopnode.apiKey')") == node.key
    assert "0 dead letter(s)" in opened.inner_text("#outbox-status")
    assert page.errors == []


def test_keyboard_users_reach_the_skip_link_first_and_a_phone_needs_no_sideways_scroll(
    browser: Any, node: DashboardNode
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = context.new_page()
        for path in PAGES:
            phone.goto(node.base + path)
            phone.wait_for_load_state("load")
            phone.keyboard.press("Tab")
            assert phone.evaluate("document.activeElement.textContent") == "Skip to content"
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width}px wide on a 390px screen"
    finally:
        context.close()


@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_no_serious_or_critical_violations(
    page: Watched, node: DashboardNode, path: str
) -> None:
    script = AXE / "axe.min.js"
    if not script.exists():
        _missing(f"axe-core ({script})")
    opened = _open(page, node, path)
    opened.wait_for_timeout(500)
    opened.add_script_tag(path=str(script))
    result = opened.evaluate(
        """async () => {
          const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a',
            'wcag21aa', 'best-practice']});
          return {passes: r.passes.length, violations: r.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`)};
        }"""
    )
    assert result["passes"] > 10  # the scan really ran over the page
    assert result["violations"] == []


def test_the_axe_folder_is_where_the_makefile_installs_it() -> None:
    assert Path(AXE).parts[-4:] == ("browser", "axe", "node_modules", "axe-core")


def test_city_names_from_records_are_shown_as_text_not_markup(
    page: Watched, node: DashboardNode
) -> None:
    name = "Gotham <b id='injected'>bold</b>"
    node.material("glass-green", 5, city=name, lat=50.0, lon=8.0)
    opened = _open(page, node, "/")
    opened.locator(".leaflet-tooltip", has_text="Gotham").wait_for(timeout=WAIT)
    assert opened.locator("#injected").count() == 0
    assert name in opened.inner_text("#map")


def test_a_trader_signed_in_is_told_the_clearing_panel_is_not_for_its_role(
    page: Watched, node: DashboardNode
) -> None:
    """Clearing rounds are an operator/auditor read: the page asks the node which roles the key
    has and never makes the request a trader would be refused (no 403, no error text)."""
    trader = node.container.api_keys.create("clearing-trader", role="trader").secret
    refused: list[str] = []
    page.page.on("response", lambda r: refused.append(r.url) if r.status >= 400 else None)
    opened = _open(page, node, "/ui/economy")
    opened.get_by_label("API key").fill(trader)
    opened.get_by_role("button", name="Sign in").click()
    opened.wait_for_function(
        "document.getElementById('clearing-status').textContent.startsWith('Not available for')",
        timeout=WAIT,
    )
    status = opened.locator("#clearing-status")
    assert "your role" in status.inner_text() and "auditor or operator" in status.inner_text()
    assert status.get_attribute("data-kind") == "info"
    assert opened.locator("#clearing-chart svg").count() == 0
    federation = _open(page, node, "/ui/federation")
    federation.wait_for_function(
        "document.getElementById('outbox-status').textContent.startsWith('Not available for')",
        timeout=WAIT,
    )
    assert refused == [] and page.errors == []


def test_clicking_through_the_dashboard_stays_within_the_anonymous_quota(
    browser: Any, tmp_path: Path
) -> None:
    """Each page's reads count against the dashboard quota (with the page's pass), so a person
    opening all six pages three times spends 18 of 20 anonymous requests and sees no 429."""
    with dashboard_node(tmp_path, rate_limits=True, rate_limit_anonymous="20/minute") as small:
        small.seed_city()
        # bypass_csp: Playwright's wait_for_function evaluates a string (as the page fixture).
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        try:
            watched = Watched(context.new_page())
            limited: list[str] = []
            api_calls: list[str] = []
            watched.page.on(
                "response", lambda r: limited.append(r.url) if r.status == 429 else None
            )
            watched.page.on(
                "request",
                lambda r: api_calls.append(r.url) if "/api/v1/" in r.url else None,
            )
            for _ in range(3):
                for path in PAGES:
                    _open(watched, small, path)
            assert len(api_calls) > 20  # more reads than the anonymous quota allows
            assert limited == [] and watched.errors == []
            # The pass buys nothing for a script's own requests without it.
            plain = [httpx.get(f"{small.base}/api/v1/material") for _ in range(3)]
            assert plain[-1].status_code == 429
        finally:
            context.close()
