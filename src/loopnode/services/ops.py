"""Readiness and gauges for operators: is this node fit to take traffic, and how full is it.

`/ready` is true when the database answers, every migration the code knows is applied, and no
outbox entry has been due for longer than `stuck_after_s` (a stalled delivery worker). The
facts come from a `StateProbe` (adapters/ops_probe.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class QueueFacts:
    """One outbox: entries waiting, entries given up on, the earliest due time of a waiting one."""

    depth: int
    dead: int
    oldest_due_us: int | None


class StateProbe(Protocol):
    def ping(self) -> None: ...

    def missing_migrations(self) -> list[str]: ...

    def evidence_length(self) -> int: ...

    def outboxes(self) -> dict[str, QueueFacts]: ...


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)


class OpsService:
    def __init__(self, probe: StateProbe, stuck_after_s: float) -> None:
        self.probe = probe
        self._stuck_after_us = int(stuck_after_s * 1_000_000)

    def readiness(self, now_us: int) -> Readiness:
        checks: dict[str, str] = {}
        try:
            self.probe.ping()
        except Exception as exc:
            return Readiness(False, {"database": f"unreachable: {type(exc).__name__}"})
        checks["database"] = "ok"
        missing = self.probe.missing_migrations()
        checks["migrations"] = "ok" if not missing else "missing " + ", ".join(missing)
        checks["outbox"] = self._outbox_check(now_us)
        return Readiness(all(value == "ok" for value in checks.values()), checks)

    def _outbox_check(self, now_us: int) -> str:
        for name, queue in self.probe.outboxes().items():
            due = queue.oldest_due_us
            if due is not None and now_us - due > self._stuck_after_us:
                late = (now_us - due) // 1_000_000
                return f"stuck: {name} has an entry due {late} s ago"
        return "ok"
