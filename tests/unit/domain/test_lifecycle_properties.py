"""Random lifecycle histories keep every invariant (§3.6.1; DECISIONS 8-11).

A hypothesis state machine drives random sequences of lifecycle calls through the services on a
real SQLite store (each example starts from a fresh copy of a migrated database) and checks,
after every step, from the database alone: one active match per offer, one live transfer per
match, offered quantity equal to the open and reserved offers and never above the subject,
quantities conserved across splits, every status history a walk of its state table (so terminal
states are absorbing), an offer reserved exactly while it has an active match, and an intact
evidence chain with exactly one entry per change.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)
from sqlalchemy import text

from loopnode.bootstrap import Container, build
from loopnode.config import load_settings
from loopnode.domain.errors import Conflict, InvalidRequest, NotFound
from loopnode.domain.lifecycle import MACHINES
from tests import lifecycle_payloads as p
from tests.fakes import CountingHex, FakeClock

SUBJECTS = {
    "MAT-DE-MUC-2026-PLASTIC-P00001": (100, "kg"),
    "MAT-DE-MUC-2026-PLASTIC-P00002": (2, "t"),
    "PRD-DE-MUC-2026-DESK-P00003": (10, "piece"),
}
QUANTITIES = {"kg": [1, 5, 10, 30, 60, 100], "t": [0.001, 0.5, 1, 2], "piece": [1, 3, 5, 10]}
ACTOR = "apikey:properties"
TABLES = {
    "offer": ("offers", "status"),
    "match": ("matches", "status"),
    "transfer": ("transfers", "status"),
    "material": ("dna_records", "availability"),
    "product": ("dna_records", "availability"),
}

_TEMPLATE: Path | None = None


def template() -> Path:
    """One migrated database, copied for every example (migrations are the slow part)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        folder = Path(tempfile.mkdtemp(prefix="loopnode-props-"))
        container = build(load_settings(folder, node_id="munich.loop"))
        container.close()
        _TEMPLATE = folder / "loopnode.db"
    return _TEMPLATE


def rows(container: Container, sql: str, **params: Any) -> list[Any]:
    with container.engine.connect() as connection:
        return list(connection.execute(text(sql), params))


class Lifecycle(RuleBasedStateMachine):
    offers = Bundle("offers")
    matches = Bundle("matches")
    transfers = Bundle("transfers")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="loopnode-example-"))
        shutil.copy(template(), self.folder / "loopnode.db")
        self.clock = FakeClock()
        settings_ = load_settings(self.folder, node_id="munich.loop")
        self.c = build(settings_, clock=self.clock, random_hex=CountingHex(), migrate=False)

    def teardown(self) -> None:
        self.c.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- steps ----------------------------------------------------------------------------------
    def _call(self, fn: Any, *args: Any) -> Any:
        name = getattr(fn, "__name__", "call")
        try:
            outcome = fn(*args)
        except (InvalidRequest, Conflict, NotFound) as exc:
            event(f"{name} {args[0] if isinstance(args[0], str) else ''}: {type(exc).__name__}")
            return None
        status = outcome.document.get("status") if outcome is not None else None
        event(f"{name} {args[0] if isinstance(args[0], str) else ''}: ok -> {status}")
        return outcome

    @initialize()
    def register(self) -> None:
        for record_id, (value, unit) in SUBJECTS.items():
            body = (
                p.material(record_id, value, unit)
                if record_id.startswith("MAT-")
                else p.product(record_id, value)
            )
            self.c.registry.register(body["@type"][:-3].lower(), body, ACTOR)

    @rule(
        target=offers,
        subject=st.sampled_from(sorted(SUBJECTS)),
        pick=st.integers(0, 5),
        status=st.sampled_from(["open", "open", "open", "withdrawn", "reserved"]),
        to_city=st.sampled_from(["Berlin", "any"]),
    )
    def create_offer(self, subject: str, pick: int, status: str, to_city: str) -> Any:
        unit = SUBJECTS[subject][1]
        choices = QUANTITIES[unit]
        body = p.offer(subject, choices[pick % len(choices)], unit, status=status, to_city=to_city)
        outcome = self._call(self.c.lifecycle.create, "offer", body, ACTOR)
        return multiple() if outcome is None else outcome.document["id"]

    @rule(
        target=matches,
        offer_id=offers,
        status=st.sampled_from(["proposed", "accepted", "accepted", "rejected", "expired"]),
        wrong_subject=st.sampled_from([False, False, False, False, True]),
    )
    def create_match(self, offer_id: str, status: str, wrong_subject: bool) -> Any:
        subject = self._subject_of(offer_id)
        if wrong_subject:
            others = [s for s in sorted(SUBJECTS) if s != subject and s[:3] == subject[:3]]
            subject = others[0] if others else subject
        outcome = self._call(
            self.c.lifecycle.create, "match", p.match(offer_id, subject, status=status), ACTOR
        )
        return multiple() if outcome is None else outcome.document["id"]

    @rule(
        target=transfers,
        match_id=matches,
        status=st.sampled_from(["scheduled", "in_transit", "completed", "cancelled"]),
    )
    def create_transfer(self, match_id: str, status: str) -> Any:
        subject = self._subject_of(match_id, "match")
        body = p.transfer(match_id, subject, status=status)
        outcome = self._call(self.c.lifecycle.create, "transfer", body, ACTOR)
        return multiple() if outcome is None else outcome.document["id"]

    @rule(offer_id=offers, state=st.sampled_from(MACHINES["offer"].states))
    def move_offer(self, offer_id: str, state: str) -> None:
        self._call(self.c.lifecycle.transition, "offer", offer_id, {"status": state}, ACTOR)

    @rule(match_id=matches, state=st.sampled_from(MACHINES["match"].states))
    def move_match(self, match_id: str, state: str) -> None:
        self._call(self.c.lifecycle.transition, "match", match_id, {"status": state}, ACTOR)

    @rule(transfer_id=transfers, state=st.sampled_from(MACHINES["transfer"].states))
    def move_transfer(self, transfer_id: str, state: str) -> None:
        body = {"status": state}
        self._call(self.c.lifecycle.transition, "transfer", transfer_id, body, ACTOR)

    @rule(
        subject=st.sampled_from([s for s in sorted(SUBJECTS) if s.startswith("MAT-")]),
        status=st.sampled_from(MACHINES["availability"].states),
    )
    def material_status(self, subject: str, status: str) -> None:
        self._call(self.c.material_status.record, p.status_update(subject, status), ACTOR)

    @rule(target=matches, offer_id=offers)
    def match_and_accept(self, offer_id: str) -> Any:
        """The path to transfers, taken often enough to reach custody."""
        return self.create_match(offer_id, "accepted", wrong_subject=False)

    @rule(
        target=transfers,
        subject=st.sampled_from(sorted(SUBJECTS)),
        pick=st.integers(0, 5),
        status=st.sampled_from(["scheduled", "in_transit", "completed", "completed"]),
    )
    def deal(self, subject: str, pick: int, status: str) -> Any:
        """Offer, accepted match and transfer in one step, so custody is reached often."""
        offer_id = self.create_offer(subject, pick, "open", "any")
        if not isinstance(offer_id, str):
            return multiple()
        match_id = self.create_match(offer_id, "accepted", wrong_subject=False)
        if not isinstance(match_id, str):
            return multiple()
        return self.create_transfer(match_id, status)

    @rule(offer_id=consumes(offers))
    def forget_offer(self, offer_id: str) -> None:
        """Keeps the bundles small so the interesting entities get picked."""

    @rule(days=st.sampled_from([1, 2, 12]))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days=days)

    def _subject_of(self, entity_id: str, entity: str = "offer") -> str:
        table = {"offer": "offers", "match": "matches"}[entity]
        (row,) = rows(self.c, f"SELECT subject_id FROM {table} WHERE id = :id", id=entity_id)
        return str(row[0])

    # -- invariants -----------------------------------------------------------------------------
    @invariant()
    def one_active_match_per_offer(self) -> None:
        assert not rows(
            self.c,
            "SELECT offer_id FROM matches WHERE status IN ('proposed', 'accepted') "
            "GROUP BY offer_id HAVING COUNT(*) > 1",
        )

    @invariant()
    def one_live_transfer_per_match(self) -> None:
        assert not rows(
            self.c,
            "SELECT match_id FROM transfers WHERE status <> 'cancelled' "
            "GROUP BY match_id HAVING COUNT(*) > 1",
        )

    @invariant()
    def offered_quantity_is_the_open_and_reserved_offers(self) -> None:
        for record_id, offered, quantity in rows(
            self.c, "SELECT id, offered_micro, quantity_micro FROM dna_records"
        ):
            (held,) = rows(
                self.c,
                "SELECT COALESCE(SUM(quantity_micro), 0) FROM offers "
                "WHERE subject_id = :id AND status IN ('open', 'reserved')",
                id=record_id,
            )
            assert offered == held[0], record_id
            assert 0 <= offered <= quantity, record_id

    @invariant()
    def quantity_is_conserved_across_splits(self) -> None:
        for record_id, (value, unit) in SUBJECTS.items():
            base = value * (1000 if unit == "t" else 1)
            (total,) = rows(
                self.c,
                "SELECT SUM(quantity_micro) FROM dna_records WHERE id = :id OR parent_id = :id",
                id=record_id,
            )
            assert total[0] == round(base * 1_000_000)

    @invariant()
    def every_history_is_a_walk_of_its_table(self) -> None:
        machines = {"offer": "offer", "match": "match", "transfer": "transfer"}
        # Passports start `available` (registration writes no history row); a delivered one
        # leaves as `withdrawn` (fulfilled).
        machines["material"] = machines["product"] = "availability"
        walks: dict[tuple[str, str], list[tuple[str | None, str]]] = defaultdict(list)
        for entity, entity_id, previous, status in rows(
            self.c,
            "SELECT entity_type, entity_id, previous, status FROM status_history ORDER BY id",
        ):
            walks[(entity, entity_id)].append((previous, status))
        for (entity, entity_id), steps in walks.items():
            machine = MACHINES[machines[entity]]
            current: str | None = "available" if entity in ("material", "product") else None
            for previous, status in steps:
                if current is None:
                    assert previous is None and status == machine.initial, steps
                else:  # terminal states have no way out, so they stay absorbing
                    assert previous == current and machine.can(current, status), steps
                current = status
            table, column = TABLES[entity]
            (stored,) = rows(self.c, f"SELECT {column} FROM {table} WHERE id = :id", id=entity_id)
            assert stored[0] == current, (entity_id, steps)

    @invariant()
    def an_offer_is_reserved_exactly_while_it_has_an_active_match(self) -> None:
        for offer_id, status in rows(self.c, "SELECT id, status FROM offers"):
            active = rows(
                self.c,
                "SELECT id FROM matches WHERE offer_id = :id "
                "AND status IN ('proposed', 'accepted')",
                id=offer_id,
            )
            if status == "withdrawn":
                for (match_id,) in active:  # only a fulfilled offer keeps its accepted match
                    assert rows(
                        self.c,
                        "SELECT id FROM transfers WHERE match_id = :id AND status = 'completed'",
                        id=match_id,
                    )
            else:
                assert (status == "reserved") == bool(active), offer_id

    @invariant()
    def the_evidence_chain_is_intact_with_one_entry_per_change(self) -> None:
        assert self.c.evidence.verify().intact
        (entries,) = rows(self.c, "SELECT COUNT(*) FROM evidence")
        (changes,) = rows(self.c, "SELECT COUNT(*) FROM status_history")
        (custody,) = rows(
            self.c, "SELECT COUNT(*) + COUNT(child_id) FROM custody"
        )  # a split also records its new record
        assert entries[0] == len(SUBJECTS) + changes[0] + custody[0]
        mismatched = rows(
            self.c,
            "SELECT h.id FROM status_history h JOIN evidence e ON e.sequence = h.sequence "
            "WHERE e.subject_id <> h.entity_id",
        )
        assert not mismatched


Lifecycle.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLifecycleInvariants = Lifecycle.TestCase
