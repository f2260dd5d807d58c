"""Witnessed checkpoints: this node keeps its peers' signed evidence heads and checks that each
new one extends the ones it holds (issue 15; certificate-transparency style gossip).

`collect` asks every approved peer for `GET {peer}/evidence/checkpoint` through the one
messaging transport, verifies the signature with the peer's key from the trust store, and
checks it against what is held from that peer:

- the same sequence must carry the same head (else `equivocation`);
- a later checkpoint must extend the latest earlier one: the peer is asked for its entry hash at
  that earlier sequence (`GET {peer}/evidence/checkpoint/{sequence}`, signed too) and it must be
  the one held (else `rewritten`);
- a shorter log than one held is `rolled_back`.

A finding is stored (append-only), logged, recorded as a `node.equivocation_detected` evidence
entry and counted by the `loopnode_evidence_witness_findings` gauge; `loopnode evidence
witnesses` lists them. Only checkpoints that verify are stored, so what is held is what the peer
signed: two held signatures over different hashes for one sequence prove the rewrite to anyone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.times import to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.checkpoints import Checkpoint, parse_checkpoint
from loopnode.protocol.trust import key_problem
from loopnode.services.evidence.witness_ports import Finding, Witnessed
from loopnode.services.federation.ports import (
    PeerAddress,
    PeerRow,
    PeerTransport,
    TransportError,
)
from loopnode.services.ports import Clock, EvidenceDraft

__all__ = ["Outcome", "WitnessService"]

log = logging.getLogger("loopnode.witness")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one peer's checkpoint came to: `status` is `held` (new and consistent), `known`
    (already held), `finding` (inconsistent: see `findings`) or `failed` (`reason`)."""

    peer_node_id: str
    status: str
    sequence: int | None = None
    reason: str | None = None
    findings: tuple[Finding, ...] = ()


class WitnessService:
    def __init__(
        self,
        uow: Callable[..., Any],
        clock: Clock,
        transport_factory: Callable[[], PeerTransport],
        timeout_s: float,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._transport_factory = transport_factory
        self._timeout = timeout_s

    async def collect(self) -> list[Outcome]:
        """Fetch, verify, check and store every approved peer's current checkpoint."""
        with self._uow() as uow:
            peers = uow.federation.peers.all("approved")
        if not peers:
            return []
        transport = self._transport_factory()
        try:
            return list(await asyncio.gather(*(self._witness(transport, p) for p in peers)))
        finally:
            await transport.aclose()

    def held(self) -> list[Witnessed]:
        with self._uow() as uow:
            latest: list[Witnessed] = uow.witnesses.latest()
        return latest

    def findings(self) -> list[Finding]:
        with self._uow() as uow:
            found: list[Finding] = uow.witnesses.findings()
        return found

    def finding_count(self) -> int:
        return len(self.findings())

    async def run(self, interval_s: float) -> None:
        """`collect` every `interval_s` seconds until cancelled; a failed round is logged."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.collect()
            except Exception:  # one failed round must not end the witnessing
                log.exception("witness: a checkpoint round failed")

    async def _witness(self, transport: PeerTransport, peer: PeerRow) -> Outcome:
        try:
            head = await self._fetch(transport, peer, "/evidence/checkpoint")
            with self._uow() as uow:
                held = uow.witnesses.held(peer.node_id)
            known = any(w.sequence == head.sequence and w.head_hash == head.head_hash for w in held)
            findings = self._same_sequence(peer, head, held)
            earlier = [w for w in held if w.sequence < head.sequence]
            # A head already held was checked against the earlier ones when it arrived.
            if earlier and not findings and not known:
                last = earlier[-1]
                answer = await self._fetch(transport, peer, f"/evidence/checkpoint/{last.sequence}")
                if answer.sequence != last.sequence:
                    raise InvalidRequest(f"asked for entry {last.sequence}, got {answer.sequence}")
                if answer.head_hash != last.head_hash:
                    findings.append(self._finding(peer, "rewritten", last, answer.head_hash))
            later = [w for w in held if w.sequence > head.sequence]
            if later:
                findings.append(self._finding(peer, "rolled_back", later[-1], head.head_hash))
        except (TransportError, InvalidRequest) as exc:
            log.warning("witness: no usable checkpoint from %s: %s", peer.node_id, exc.message)
            return Outcome(peer.node_id, "failed", reason=exc.message)
        findings = self._store(peer, head, findings, store=not known)
        if findings:
            return Outcome(peer.node_id, "finding", head.sequence, findings=tuple(findings))
        return Outcome(peer.node_id, "known" if known else "held", head.sequence)

    def _same_sequence(
        self, peer: PeerRow, head: Checkpoint, held: list[Witnessed]
    ) -> list[Finding]:
        clashes = [w for w in held if w.sequence == head.sequence and w.head_hash != head.head_hash]
        return [self._finding(peer, "equivocation", clashes[0], head.head_hash)] if clashes else []

    async def _fetch(self, transport: PeerTransport, peer: PeerRow, path: str) -> Checkpoint:
        answer = await transport.get(
            peer.endpoint + path, pin=PeerAddress.of(peer), timeout=self._timeout
        )
        if answer.status != 200:
            raise InvalidRequest(f"{peer.node_id} answered {answer.status} for {path}")
        try:
            document = orjson.loads(answer.body)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"{peer.node_id} answered no JSON for {path}") from exc
        checkpoint = parse_checkpoint(document)
        self._verify(peer, checkpoint)
        return checkpoint

    def _verify(self, peer: PeerRow, checkpoint: Checkpoint) -> None:
        if checkpoint.node_id != peer.node_id:
            raise InvalidRequest(f"a checkpoint from {peer.node_id} names {checkpoint.node_id}")
        with self._uow() as uow:
            record = uow.federation.peer_keys.get(peer.node_id, checkpoint.key_id)
        if record is None:
            raise InvalidRequest(f"{peer.node_id} signed with unknown key {checkpoint.key_id}")
        problem = key_problem(record, checkpoint.issued_at)
        if problem is not None:
            raise InvalidRequest(f"{peer.node_id}'s key {checkpoint.key_id}: {problem.value}")
        if not checkpoint.verifies_with(record.public_key):
            raise InvalidRequest(f"the checkpoint signature of {peer.node_id} does not verify")

    def _finding(self, peer: PeerRow, kind: str, held: Witnessed, answered: str) -> Finding:
        detail = (
            f"{peer.node_id} signed entry {held.sequence} as {held.head_hash} "
            f"(key {held.key_id}), and now answers {answered}"
        )
        if kind == "rolled_back":
            detail = (
                f"{peer.node_id} signed a log of {held.sequence} entries, and now answers a "
                f"shorter one ending in {answered}"
            )
        return Finding(
            peer.node_id,
            kind,
            held.sequence,
            held.head_hash,
            answered,
            detail,
            to_us(self._clock.now()),
        )

    def _store(
        self, peer: PeerRow, head: Checkpoint, findings: list[Finding], *, store: bool
    ) -> list[Finding]:
        """Store the checkpoint (unless held) and the findings not recorded before; returns
        those."""
        recorded: list[Finding] = []
        now = self._clock.now()
        with self._uow(write=True) as uow:
            if store:
                uow.witnesses.add(
                    Witnessed(
                        peer.node_id,
                        head.sequence,
                        head.head_hash,
                        to_us(head.issued_at),
                        head.key_id,
                        head.signature,
                        to_us(now),
                    )
                )
            # Once recorded, the same inconsistency is not recorded again on every later round.
            known = {_key(f) for f in uow.witnesses.findings()}
            for finding in findings:
                if _key(finding) in known:
                    continue
                recorded.append(finding)
                log.error("witness: %s (%s)", finding.detail, finding.kind)
                uow.witnesses.add_finding(finding)
                summary = {
                    "kind": finding.kind,
                    "sequence": finding.sequence,
                    "held_hash": finding.held_hash,
                    "answered_hash": finding.answered_hash,
                }
                uow.evidence.append(
                    EvidenceDraft(
                        "node.equivocation_detected",
                        "node",
                        peer.node_id,
                        "system",
                        sha256_hex({"peer": peer.node_id, **summary}),
                        summary,
                    ),
                    now,
                )
        return recorded


def _key(finding: Finding) -> tuple[str, str, int, str, str]:
    return (
        finding.peer_node_id,
        finding.kind,
        finding.sequence,
        finding.held_hash,
        finding.answered_hash,
    )
