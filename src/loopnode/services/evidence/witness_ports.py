"""What the witness service stores: peers' signed checkpoints and the findings about them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Finding", "WitnessStore", "Witnessed"]


@dataclass(frozen=True, slots=True)
class Witnessed:
    """A peer's signed statement "my evidence entry `sequence` has hash `head_hash`"."""

    peer_node_id: str
    sequence: int
    head_hash: str
    issued_us: int
    key_id: str
    signature: str
    received_us: int = 0


@dataclass(frozen=True, slots=True)
class Finding:
    """A peer's signed history that does not fit what it signed before.

    `kind`: `equivocation` (two signed heads for one sequence), `rewritten` (its entry at a
    sequence we hold is no longer the one it signed), `rolled_back` (its log is shorter than one
    it signed).
    """

    peer_node_id: str
    kind: str
    sequence: int
    held_hash: str
    answered_hash: str
    detail: str
    found_us: int


class WitnessStore(Protocol):
    def held(self, peer_node_id: str) -> list[Witnessed]:
        """Every checkpoint held from the peer, by sequence then arrival."""

    def add(self, checkpoint: Witnessed) -> None: ...

    def add_finding(self, finding: Finding) -> None: ...

    def findings(self) -> list[Finding]: ...

    def latest(self) -> list[Witnessed]:
        """The latest checkpoint held from each peer."""
