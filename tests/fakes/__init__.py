"""Test doubles for the ports: a clock the test moves by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class FakeClock:
    current: datetime = field(default_factory=lambda: datetime(2026, 6, 1, 12, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class CountingHex:
    """Deterministic ids: 0000000001, 0000000002, ... (upper-case hex)."""

    def __init__(self) -> None:
        self.counter = 0

    def __call__(self, length: int) -> str:
        self.counter += 1
        return f"{self.counter:0{length}X}"
