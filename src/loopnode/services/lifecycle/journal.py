"""What one lifecycle unit of work changed, written to the evidence log and status history.

Every state an entity enters is one evidence entry (DECISIONS 22) and one status-history row
pointing at it, so "one entry per change" can be checked from the database alone. Entries are
collected while the change runs and appended by `flush`, at the very end of the unit of work:
the evidence head is a node-wide lock, so taking it last, after every entity lock, keeps lock
order the same in every transaction (no deadlock between two writers on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from loopnode.domain.evidence import EvidenceEvent
from loopnode.domain.times import to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.services.group_commit import defer
from loopnode.services.ports import EvidenceDraft, StatusChange, UnitOfWork

__all__ = ["Journal", "event_type"]

MAX_REASON = 200  # status_history.reason

# Offers name their creation and reservation; the other states are named after the state.
_OFFER_EVENTS = {"open": "offer.published", "reserved": "offer.reserved"}


def event_type(entity: str, status: str, previous: str | None) -> str:
    """The evidence vocabulary for "`entity` entered `status`" (domain/evidence.py)."""
    if entity == "offer":
        if status == "open" and previous is not None:
            return "offer.reopened"
        return _OFFER_EVENTS.get(status, f"offer.{status}")
    if entity == "transaction":
        return "transaction.recorded" if previous is None else "transaction.status_changed"
    if entity in ("material", "product"):
        return f"{entity}.status_updated"
    return f"{entity}.{status}"


@dataclass
class _Pending:
    draft: EvidenceDraft
    after: Callable[[EvidenceEvent], None] | None
    # (entity, entity_id, status, previous, reason) of a status-history row for this entry
    history: tuple[str, str, str, str | None, str | None] | None = None


@dataclass
class Journal:
    """Collects evidence drafts for one unit of work; `flush` appends them in order."""

    uow: UnitOfWork
    now: datetime
    actor: str
    _pending: list[_Pending] = field(default_factory=list)
    # Documents as this change leaves them, keyed by id (passport, match), where the exchange
    # already holds them: the answer's profile findings take them instead of reading them again.
    known: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def now_us(self) -> int:
        return to_us(self.now)

    def entered(
        self,
        entity: str,
        entity_id: str,
        status: str,
        previous: str | None,
        payload: dict[str, Any],
        reason: str | None = None,
    ) -> None:
        """`entity_id` entered `status`: an evidence entry and its status-history row."""
        reason = None if reason is None else reason[:MAX_REASON]
        summary: dict[str, Any] = {"status": status, "previous": previous}
        if reason is not None:
            summary["reason"] = reason

        draft = EvidenceDraft(
            event_type(entity, status, previous),
            entity,
            entity_id,
            self.actor,
            sha256_hex(payload),
            summary,
        )
        self._pending.append(_Pending(draft, None, (entity, entity_id, status, previous, reason)))

    def record(
        self,
        event: str,
        subject_type: str,
        subject_id: str,
        payload: dict[str, Any],
        summary: dict[str, Any] | None = None,
        after: Callable[[EvidenceEvent], None] | None = None,
    ) -> None:
        """Any other evidence entry; `after` runs with the appended event (its sequence)."""
        draft = EvidenceDraft(
            event, subject_type, subject_id, self.actor, sha256_hex(payload), summary or {}
        )
        self._pending.append(_Pending(draft, after))

    def flush(self) -> list[EvidenceEvent]:
        """Appends the collected entries as one batch, runs the `after` callbacks, then
        writes their status-history rows as one batch (each row carries its entry's sequence).

        Inside a group-committed write (services/group_commit.py) the entries are left to its
        batch, which appends them with its neighbours' and then calls `recorded`: the answer
        is [] then."""
        if defer(self.uow, self):
            return []
        drafts = [pending.draft for pending in self._pending]
        appended = self.uow.evidence.append_many(drafts, self.now)
        changes = self.recorded(appended)
        if changes:
            self.uow.history.append_many(changes)
        return appended

    def deferred_drafts(self) -> list[EvidenceDraft]:
        return [replace(pending.draft, recorded_at=self.now) for pending in self._pending]

    def recorded(self, appended: Sequence[EvidenceEvent]) -> list[StatusChange]:
        """Runs the `after` callbacks of the appended entries; answers their status-history
        rows, for the caller to write (a batch writes all of its writes' rows at once)."""
        changes = [
            StatusChange(*pending.history, self.actor, event.sequence, self.now_us)
            for pending, event in zip(self._pending, appended, strict=True)
            if pending.history is not None
        ]
        for pending, event in zip(self._pending, appended, strict=True):
            if pending.after is not None:
                pending.after(event)
        self._pending.clear()
        return changes
