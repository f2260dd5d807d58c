"""The economic panels in Chromium, against the node's real LoopCoin, LoopSignal and clearing
APIs: a closed vote shows its result, the ledger shows the balance the API answers, a signed-in
user casts a ballot, and the clearing rounds the node applied are charted.

The node is seeded through its API (signals from settings, two proposals, one voted on and
closed; an account with issued LoopCoin) and through the clearing service (two rounds applied,
as `loopnode clearing run` would apply them on the coordinator)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loopnode.domain.times import format_timestamp
from tests.e2e.dashboard_node import CONTEXT, DashboardNode, dashboard_node
from tests.e2e.test_dashboard_browser import WAIT, Watched, browser
from tests.integration.ledger.test_loopcoin_rounds import cycle

__all__ = ["browser"]  # the shared module-scoped Chromium fixture

pytestmark = pytest.mark.timeout(120)

SIGNALS = {"plastic-pet": "0.4", "organic-food": "0.2", "default": "0.1"}
VOTING_S = 3.0  # the closed proposal's voting window still ahead when it is proposed


def _proposal(node: DashboardNode, category: str, current: float, closes: datetime) -> str:
    opens = datetime.now(UTC) - timedelta(minutes=1)
    change = {"category": category, "current": current, "proposed": round(current - 0.05, 2)}
    answer = node.post(
        "/signals/proposals",
        {
            "@context": CONTEXT,
            "@type": "SignalProposal",
            "node": "munich.loop",
            "changes": [change],
            "voting_opens": format_timestamp(opens),
            "voting_closes": format_timestamp(closes),
        },
    )
    return str(answer["id"])


def _seed(node: DashboardNode) -> dict[str, str]:
    closes = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=VOTING_S + 1)
    closed = _proposal(node, "plastic-pet", 0.4, closes)
    still_open = _proposal(node, "organic-food", 0.2, datetime(2030, 6, 15, tzinfo=UTC))
    for choice in ["for", "for", "for", "against"]:  # a voter is a LoopCoin account here
        voter = node.post("/loopcoin/accounts", {"kind": "user"})["id"]
        node.post(f"/signals/proposals/{closed}/ballots", {"voter": voter, "choice": choice})
    account = node.post("/loopcoin/accounts", {"kind": "user"})["id"]
    node.post("/loopcoin/issue", {"to": account, "amount": "1000", "reserve_deposit": "1000"})
    rounds = node.container.ledger.rounds
    for suffix, amount in (("r1", "150.00"), ("r2", "100.00")):  # each clears 300.00
        round_ = cycle(node.container, suffix, amount)
        rounds.apply("munich.loop", rounds.result_for(round_, "munich.loop"))
    time.sleep(max(0.0, (closes - datetime.now(UTC)).total_seconds()) + 0.2)
    node.post(f"/signals/proposals/{closed}/close", {})
    return {"closed": closed, "open": still_open, "account": account}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardNode]:
    with dashboard_node(tmp_path_factory.mktemp("economy"), signals=SIGNALS) as served:
        served.seeded = _seed(served)  # type: ignore[attr-defined]
        yield served


def seeded(node: DashboardNode) -> dict[str, str]:
    found: dict[str, str] = node.seeded  # type: ignore[attr-defined]
    return found


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


def test_a_closed_vote_shows_its_result(page: Watched, node: DashboardNode) -> None:
    closed = seeded(node)["closed"]
    assert node.http.get(f"/signals/proposals/{closed}").json()["state"] == "passed"
    card = page.page.locator(f"#proposals [data-id='{closed}']")
    card.wait_for(timeout=WAIT)
    assert "Result: passed, 3 for, 1 against" in card.inner_text()
    assert "plastic-pet: 0.4 → 0.35" in card.inner_text()
    assert card.locator("svg title").text_content() == (
        f"Result of {closed}: 3 for, 1 against (passed)"
    )
    assert page.errors == []


def test_signals_and_supply_are_charted(page: Watched, node: DashboardNode) -> None:
    opened = page.page
    opened.locator("#signals-chart svg").wait_for(timeout=WAIT)
    assert "plastic-pet" in opened.inner_text("#signals-chart")
    opened.locator("#supply-chart svg").wait_for(timeout=WAIT)
    supply = node.http.get("/loopcoin/supply").json()
    assert supply["issued"] == "1000.00"
    assert supply["issued"] in opened.inner_text("#supply-chart")
    currency = node.http.get("/loopcoin/config").json()["currency_code"]
    assert currency in opened.inner_text("#loopcoin-config")


def test_the_ledger_shows_the_balance_the_api_answers_with_its_decay_projection(
    page: Watched, node: DashboardNode
) -> None:
    account = seeded(node)["account"]
    opened = page.page
    opened.get_by_label("Account id").fill(account)
    opened.get_by_role("button", name="Show").click()
    opened.locator("#decay-chart svg").wait_for(timeout=WAIT)
    balance = node.http.get(f"/loopcoin/accounts/{account}").json()["balance"]
    assert balance != "0.00"
    assert opened.inner_text("#account-balance") == f"Balance of {account}: {balance}"
    assert opened.locator("#decay-chart circle").count() == 7  # now and six projections
    assert "issue" in opened.inner_text("#statement")
    assert page.errors == []


def test_a_signed_in_user_casts_a_ballot_through_the_api(
    page: Watched, node: DashboardNode
) -> None:
    still_open = seeded(node)["open"]
    voter = node.post("/loopcoin/accounts", {"kind": "user"})["id"]
    opened = page.page
    card = opened.locator(f"#proposals [data-id='{still_open}']")
    card.wait_for(timeout=WAIT)
    card.get_by_label("Voter (LoopCoin account)").fill(voter)
    card.get_by_role("button", name="Vote against").click()
    card.get_by_text("Ballot recorded.").wait_for(timeout=WAIT)
    answer = node.http.get(f"/signals/proposals/{still_open}").json()
    assert answer["ballots"] == {"for": 0, "against": 1}


def test_clearing_rounds_are_charted(page: Watched, node: DashboardNode) -> None:
    opened = page.page
    opened.locator("#clearing-chart svg").wait_for(timeout=WAIT)
    listed = node.http.get("/clearing/rounds").json()["rounds"]
    assert [r["cleared"] for r in listed] == ["300.00", "300.00"]
    assert "2 clearing round(s)." in opened.inner_text("#clearing-status")
    assert "300.00" in opened.inner_text("#clearing-chart")
    assert page.errors == []
