"""Readiness decisions from database facts, with a fake probe."""

from __future__ import annotations

from dataclasses import dataclass, field

from loopnode.services.ops import OpsService, QueueFacts

MINUTE_US = 60_000_000


@dataclass
class FakeProbe:
    down: bool = False
    missing: list[str] = field(default_factory=list)
    queues: dict[str, QueueFacts] = field(default_factory=dict)

    def ping(self) -> None:
        if self.down:
            raise ConnectionRefusedError("connection refused")

    def missing_migrations(self) -> list[str]:
        return self.missing

    def evidence_length(self) -> int:
        return 0

    def outboxes(self) -> dict[str, QueueFacts]:
        return self.queues


def test_an_unreachable_database_is_not_ready_and_nothing_else_is_asked() -> None:
    report = OpsService(FakeProbe(down=True), 600).readiness(0)
    assert not report.ready
    assert report.checks == {"database": "unreachable: ConnectionRefusedError"}


def test_an_entry_due_longer_than_the_threshold_means_a_stuck_outbox() -> None:
    now = 100 * MINUTE_US
    late = FakeProbe(queues={"fed_outbox": QueueFacts(3, 0, now - 11 * MINUTE_US)})
    recent = FakeProbe(queues={"fed_outbox": QueueFacts(3, 7, now - 9 * MINUTE_US)})
    assert OpsService(late, 600).readiness(now).checks["outbox"] == (
        "stuck: fed_outbox has an entry due 660 s ago"
    )
    assert OpsService(recent, 600).readiness(now).ready  # dead letters alone are not "stuck"


def test_missing_migrations_are_named() -> None:
    report = OpsService(FakeProbe(missing=["0004", "0010"]), 600).readiness(0)
    assert not report.ready and report.checks["migrations"] == "missing 0004, 0010"
