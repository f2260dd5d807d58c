"""The economic panels in Chromium, against the LoopCoin/LoopSignal API contracts (faked here
until the currency and routing branches merge): a vote shows its result, the ledger shows the
balance the API answers, a signed-in user casts a ballot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.dashboard_node import DashboardNode, dashboard_node
from tests.e2e.economy_contract import ACCOUNT, economy_router
from tests.e2e.test_dashboard_browser import WAIT, Watched, browser

__all__ = ["browser"]  # the shared module-scoped Chromium fixture

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardNode]:
    with dashboard_node(tmp_path_factory.mktemp("economy"), routers=(economy_router(),)) as served:
        yield served


@pytest.fixture
def page(browser: Any, node: DashboardNode) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.add_init_script(f"sessionStorage.setItem('loopnode.apiKey', '{node.key}')")
    try:
        watched = Watched(context.new_page())
        watched.page.goto(node.base + "/ui/economy")
        yield watched
    finally:
        context.close()


def test_a_closed_vote_shows_its_result(page: Watched) -> None:
    card = page.page.locator("#proposals [data-id='PROP-1']")
    card.wait_for(timeout=WAIT)
    assert "Result: passed, 7 for, 2 against" in card.inner_text()
    assert card.locator("svg title").text_content() == (
        "Result of PROP-1: 7 for, 2 against (passed)"
    )
    assert page.errors == []


def test_signals_and_supply_are_charted(page: Watched) -> None:
    opened = page.page
    opened.locator("#signals-chart svg").wait_for(timeout=WAIT)
    assert "plastic-pet" in opened.inner_text("#signals-chart")
    opened.locator("#supply-chart svg").wait_for(timeout=WAIT)
    assert "21500.00" in opened.inner_text("#supply-chart")
    assert "MLC" in opened.inner_text("#loopcoin-config")


def test_the_ledger_shows_the_balance_the_api_answers_with_its_decay_projection(
    page: Watched, node: DashboardNode
) -> None:
    opened = page.page
    opened.get_by_label("Account id").fill(ACCOUNT)
    opened.get_by_role("button", name="Show").click()
    opened.locator("#decay-chart svg").wait_for(timeout=WAIT)
    balance = node.http.get(f"/loopcoin/accounts/{ACCOUNT}").json()["balance"]
    assert opened.inner_text("#account-balance") == f"Balance of {ACCOUNT}: {balance}"
    assert opened.locator("#decay-chart circle").count() == 7  # now and six projections
    assert "issued" in opened.inner_text("#statement")
    assert page.errors == []


def test_a_signed_in_user_casts_a_ballot_through_the_api(
    page: Watched, node: DashboardNode
) -> None:
    opened = page.page
    card = opened.locator("#proposals [data-id='PROP-2']")
    card.wait_for(timeout=WAIT)
    card.get_by_label("Voter (LoopCoin account)").fill(ACCOUNT)
    card.get_by_role("button", name="Vote against").click()
    card.get_by_text("Ballot recorded.").wait_for(timeout=WAIT)
    assert node.http.get("/signals/ballots").json() == [
        {"proposal": "PROP-2", "voter": ACCOUNT, "choice": "against"}
    ]


def test_clearing_rounds_are_charted(page: Watched) -> None:
    opened = page.page
    opened.locator("#clearing-chart svg").wait_for(timeout=WAIT)
    assert "2 clearing round(s)." in opened.inner_text("#clearing-status")
    assert "300.00" in opened.inner_text("#clearing-chart")
