"""Issue 15, last item: LoopCoin ledger rows are bound to evidence (both databases).

A journal entry (`ledger`, its postings folded into its state) and a clearing round
(`clearing_round`) carry the state hash of their row in the entry that wrote them; account
balances are checked against the postings and lots they are derived from. A flow of issue,
transfer (after decay), redeem and a clearing round verifies clean; each row changed, added or
deleted directly in the database is named by `evidence verify`, which exits 1.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from loopnode.domain import evidence as evidence_domain
from loopnode.domain.decay import add_months
from loopnode.protocol.jsonld import CONTEXT_V020
from loopnode.services.ledger import clearing_round
from loopnode.services.ports import EvidenceDraft
from tests.integration.evidence.test_evidence_audit import Node
from tests.integration.evidence.test_evidence_audit import node as node  # the fixture
from tests.integration.ledger.test_loopcoin_rounds import BER, ME, VIE, entry, hold


def ledger_flow(node: Node) -> dict[str, str]:
    """Issue to a user, let six months of decay pass, pay a business (decay entry, transfer with
    local bonus), redeem part of it, and apply a clearing round: the ids of what was written."""
    ledger, clock = node.container.ledger, node.container.clock
    user = ledger.open_account({"kind": "user"})["id"]
    business = ledger.open_account({"kind": "business"})["id"]
    status, issued = ledger.issue(
        {"to": user, "amount": "1000.00", "reserve_deposit": "1000.00"}, "tests"
    )
    assert status == 201
    clock.current = add_months(clock.now(), 7)
    transfer_id = str(uuid.uuid4())
    status, _paid = ledger.transfer(
        {
            "@context": CONTEXT_V020,
            "@type": "LoopCoinTransfer",
            "id": transfer_id,
            "from": user,
            "to": business,
            "amount": Decimal("100.00"),
            "currency": "LC-MUC",
            "timestamp": "2026-06-01T12:00:00Z",
        },
        "tests",
    )
    assert status == 201
    status, redeemed = ledger.redeem({"from": business, "amount": "20.00"}, "tests")
    assert status == 201
    round_id = apply_round(node, "1")
    return {
        "user": user,
        "business": business,
        "issue": issued["id"],
        "transfer": transfer_id,
        "decay": f"decay-{transfer_id}",
        "redeem": redeemed["id"],
        "round": round_id,
    }


def apply_round(node: Node, suffix: str) -> str:
    """Munich → Vienna 150, Vienna → Berlin 100, Berlin → Munich 100, cleared by Munich."""
    m_v = entry(f"{ME}:tx-{suffix}", ME, VIE, "150.00")
    v_b = entry(f"{VIE}:tx-{suffix}", VIE, BER, "100.00")
    b_m = entry(f"{BER}:tx-{suffix}", BER, ME, "100.00")
    hold(node.container, m_v, b_m)
    rounds = node.container.ledger.rounds
    round_ = rounds.plan(
        {ME: [m_v, b_m], VIE: [m_v, v_b], BER: [v_b, b_m]}, node.container.clock.now()
    )
    assert rounds.apply(ME, rounds.result_for(round_, ME))["status"] == "applied"
    return str(round_["id"])


def named(node: Node) -> dict[tuple[str, str], str]:
    report = node.container.evidence.verify()
    assert report.first_broken is None  # the chain itself is untouched
    return {(kind, record_id): problem for kind, record_id, problem in report.records}


def assert_cli_names(node: Node, *lines: str) -> None:
    result = node.cli("verify")
    assert result.exit_code == 1, result.output
    for line in lines:
        assert line in result.output


def test_a_ledger_flow_is_bound_and_verifies_clean(node: Node) -> None:
    ids = ledger_flow(node)

    with node.container.engine.connect() as connection:
        bound = {
            (row.subject_type, row.subject_id)
            for row in connection.execute(
                text("SELECT subject_type, subject_id FROM evidence WHERE record_hash IS NOT NULL")
            )
        }
    entries = {("ledger", ids[k]) for k in ("issue", "decay", "transfer", "redeem")}
    assert entries | {("clearing_round", ids["round"])} <= bound
    assert not node.container.evidence.verify().records
    result = node.cli("verify")
    assert result.exit_code == 0 and "records match" in result.output, result.output


TAMPERING = {
    "entry": (
        "UPDATE ledger_entries SET minted_cents = minted_cents + 100 WHERE id = :id",
        "ledger",
        "issue",
    ),
    "posting": (
        "UPDATE ledger_postings SET created_us = created_us + 1 WHERE entry_id = :id",
        "ledger",
        "transfer",
    ),
    "round": (
        "UPDATE ledger_clearing_rounds SET cleared_cents = 0 WHERE id = :id",
        "clearing_round",
        "round",
    ),
}


@pytest.mark.parametrize("what", sorted(TAMPERING))
def test_a_ledger_row_changed_in_the_database_is_named(node: Node, what: str) -> None:
    ids = ledger_flow(node)
    statement, kind, which = TAMPERING[what]
    node.sql(statement, id=ids[which])

    problems = named(node)
    # An issue entry's minted amount no longer adds up to the issued total either.
    totals = [("ledger_totals", "issued")] if what == "entry" else []
    assert list(problems) == [(kind, ids[which]), *totals]
    assert "differs from the one entry" in problems[(kind, ids[which])]
    assert_cli_names(node, f"RECORD {kind} {ids[which]}")


def test_a_posting_moved_between_accounts_names_its_entry_and_both_balances(node: Node) -> None:
    ids = ledger_flow(node)
    # The redemption's one posting (the business's burn) moved to the user: both sums break.
    node.sql(
        "UPDATE ledger_postings SET account_id = :user WHERE entry_id = :id",
        user=ids["user"],
        id=ids["redeem"],
    )

    problems = named(node)
    assert set(problems) == {
        ("ledger", ids["redeem"]),
        ("account", ids["user"]),
        ("account", ids["business"]),
    }
    assert "not the sum of its postings" in problems[("account", ids["user"])]


def test_a_balance_or_a_lot_changed_in_the_database_is_named(node: Node) -> None:
    ids = ledger_flow(node)
    node.sql(
        "UPDATE ledger_accounts SET balance_cents = balance_cents + 5000 WHERE id = :id",
        id=ids["user"],
    )
    node.sql(
        "UPDATE ledger_lots SET cents = cents + 5000 WHERE account_id = :id",
        id=ids["business"],
    )

    problems = named(node)
    assert set(problems) == {("account", ids["user"]), ("account", ids["business"])}
    assert "not the sum of its postings" in problems[("account", ids["user"])]
    assert "not the sum of its lots" in problems[("account", ids["business"])]
    assert_cli_names(node, f"RECORD account {ids['user']}", f"RECORD account {ids['business']}")


def test_ledger_rows_added_or_deleted_without_an_entry_are_named(node: Node) -> None:
    ids = ledger_flow(node)
    node.sql(
        "INSERT INTO ledger_entries (id, kind, request_hash, minted_cents, document, created_us) "
        "VALUES ('forged-entry', 'issue', :h, 0, '{}', 0)",
        h="0" * 64,
    )
    node.sql(
        "INSERT INTO ledger_clearing_rounds (id, coordinator, applied_us, participants, "
        "total_cents, cleared_cents, part) VALUES ('forged-round', :me, 0, '[]', 0, 0, '{}')",
        me=ME,
    )
    node.sql("DELETE FROM ledger_postings WHERE entry_id = :id", id=ids["redeem"])
    node.sql("DELETE FROM ledger_entries WHERE id = :id", id=ids["redeem"])
    node.sql("DELETE FROM ledger_clearing_rounds WHERE id = :id", id=ids["round"])

    problems = named(node)
    assert set(problems) == {
        ("ledger", "forged-entry"),
        ("clearing_round", "forged-round"),
        ("ledger", ids["redeem"]),
        ("clearing_round", ids["round"]),
        ("account", ids["business"]),  # its postings no longer add up to its balance
        ("ledger_totals", "redeemed"),  # nor the redeem entries to the redeemed total
    }
    assert "no evidence entry" in problems[("ledger", "forged-entry")]
    assert "no evidence entry" in problems[("clearing_round", "forged-round")]
    assert "row is gone" in problems[("ledger", ids["redeem"])]
    assert "row is gone" in problems[("clearing_round", ids["round"])]
    assert_cli_names(node, "RECORD ledger forged-entry", "RECORD clearing_round forged-round")


def test_a_posting_added_to_an_entry_is_named(node: Node) -> None:
    ids = ledger_flow(node)
    node.sql(
        "INSERT INTO ledger_postings (entry_id, account_id, cents, created_us) "
        "VALUES (:id, :fund, 0, 0)",
        id=ids["issue"],
        fund="node:community-fund@munich.loop",
    )

    assert list(named(node)) == [("ledger", ids["issue"])]


def test_rounds_recorded_under_the_old_ledger_subject_type_still_verify(
    node: Node, monkeypatch: Any
) -> None:
    """Before rounds had a subject type of their own, `clearing.applied` was filed under `ledger`
    (with no record hash). Such a round is not "without an entry", and its entry does not count
    for a journal entry that happens to share the round's id."""
    monkeypatch.setitem(evidence_domain.EVENT_TYPES, "clearing.applied", "ledger")
    monkeypatch.setattr(
        clearing_round,
        "EvidenceDraft",
        lambda event_type, _subject_type, *rest: EvidenceDraft(event_type, "ledger", *rest),
    )
    old = apply_round(node, "old")
    monkeypatch.undo()
    new = apply_round(node, "new")
    with node.container.engine.connect() as connection:
        filed = dict(
            connection.execute(
                text(
                    "SELECT subject_id, subject_type FROM evidence "
                    "WHERE event_type = 'clearing.applied' AND record_hash IS NULL"
                )
            ).all()
        )
    assert filed == {old: "ledger"}
    result = node.cli("verify")
    assert result.exit_code == 0 and "records match" in result.output, result.output

    node.sql(
        "INSERT INTO ledger_entries (id, kind, request_hash, minted_cents, document, created_us) "
        "VALUES (:id, 'issue', :h, 0, '{}', 0)",
        id=old,
        h="0" * 64,
    )
    assert list(named(node)) == [("ledger", old)]
    assert new != old


def test_issued_or_redeemed_totals_changed_in_the_database_are_named(node: Node) -> None:
    ledger_flow(node)
    node.sql("UPDATE ledger_totals SET issued_cents = issued_cents + 100, reserve_cents = 0")
    problems = named(node)
    assert set(problems) == {("ledger_totals", "issued")}
    assert "not what the issue entries moved" in problems[("ledger_totals", "issued")]
    node.sql("UPDATE ledger_totals SET issued_cents = issued_cents - 100")
    node.sql("UPDATE ledger_totals SET redeemed_cents = redeemed_cents - 1")
    assert set(named(node)) == {("ledger_totals", "redeemed")}
    assert_cli_names(node, "RECORD ledger_totals redeemed")
