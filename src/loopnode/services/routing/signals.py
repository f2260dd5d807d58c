"""LoopSignal governance (spec §6, DECISIONS 17): the published config, proposals, ballots,
closing a vote, and the signal tables of peers.

The rules are `domain/signals.py`; this module runs them inside database transactions:

* Submitting a proposal locks the config in force, so two proposals for the same period are
  checked against the 0.10 cap one after the other, never side by side.
* One voter, one ballot: the UNIQUE (proposal, voter) constraint decides; the loser gets 409.
* Closing happens once (a conditional update from `open`); a passed proposal publishes a new
  config version (the old ones stay as history) and both land in the evidence log.

Voters are LoopCoin account ids of this node's community (`user:u-…@munich.loop`): a ballot's
voter must be an existing account of this node (400 otherwise) and the caller its holder, unless
an operator (403; services/access/ownership.py), checked in the transaction that stores the ballot.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from loopnode.domain.errors import Conflict, InvalidRequest, NotFound
from loopnode.domain.signals import (
    DEFAULT_KEY,
    Change,
    Tally,
    apply_changes,
    check_changes,
    check_value,
    period_of,
    period_usage,
    tally,
)
from loopnode.domain.times import format_timestamp, parse_timestamp
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.jsonld import CONTEXT_V020
from loopnode.protocol.validation import validate_entity
from loopnode.services.access.apikeys import Principal
from loopnode.services.access.ownership import ensure_account_holder
from loopnode.services.ports import Clock, EvidenceDraft, UnitOfWorkFactory
from loopnode.services.routing.ports import ProposalRow, Signals, StoredConfig

CONTEXT: Final = CONTEXT_V020
SCHEMA_VERSION: Final = "0.2.0"
VOTER_RE: Final = re.compile(r"^(user|business|node):[^@\s]{1,120}@([a-z0-9\-]+\.loop)\Z")
SEED_SIGNALS: Final = {DEFAULT_KEY: Decimal("0.05")}
MAX_LIST: Final = 200
CACHE_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class SignalSettings:
    node_id: str
    initial: Signals
    config_days: int = 365
    quorum: Decimal | None = None
    eligible_voters: int = 0


def _number(value: Decimal) -> int | float:
    """A signal value as a JSON number (the schema's type); exact for the values we store."""
    return int(value) if value == value.to_integral_value() else float(value)


def render_config(config: StoredConfig) -> dict[str, Any]:
    """The LoopSignalConfig document for a stored config version."""
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "LoopSignalConfig",
        "schema_version": SCHEMA_VERSION,
        "node": config.node,
        "signals": {key: _number(value) for key, value in sorted(config.signals.items())},
        "valid_from": format_timestamp(config.valid_from),
        "valid_until": format_timestamp(config.valid_until),
    }
    if config.vote_id is not None:
        document["approved_by"] = {
            "vote_id": config.vote_id,
            "turnout": _number(config.turnout or Decimal(0)),
            "approval": _number(config.approval or Decimal(0)),
        }
    return document


class SignalService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        settings: SignalSettings,
        random_hex: Any,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._settings = settings
        self._random_hex = random_hex
        self._cache: tuple[Signals, float] | None = None

    # -- the config in force -----------------------------------------------------------------
    def in_force(self) -> StoredConfig:
        with self._uow() as uow:
            config = uow.signals.latest_config()
        if config is not None:
            return config
        return self._seed()

    def cached_signals(self) -> Signals:
        """The signal table in force, re-read at most every CACHE_S seconds (for pricing many
        quotes); a publication by this process is seen at once, another worker's within
        CACHE_S."""
        now = time.monotonic()
        if self._cache is None or now - self._cache[1] >= CACHE_S:
            self._cache = (self.signals(), now)
        return dict(self._cache[0])

    def config(self) -> dict[str, Any]:
        return render_config(self.in_force())

    def signals(self) -> Signals:
        return dict(self.in_force().signals)

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        self.in_force()
        with self._uow() as uow:
            return [render_config(c) for c in uow.signals.history(min(limit, MAX_LIST))]

    def _seed(self) -> StoredConfig:
        now = self._clock.now()
        initial = dict(self._settings.initial or SEED_SIGNALS)
        for key, value in initial.items():
            check_value(value, f"signals[{key}]")
        seed = StoredConfig(
            version=1,
            node=self._settings.node_id,
            signals=initial,
            valid_from=now,
            valid_until=now + timedelta(days=self._settings.config_days),
        )
        with self._uow(write=True) as uow:
            uow.signals.insert_config(seed, now)
            latest = uow.signals.latest_config()
            if latest is not None and latest.version == 1:
                uow.evidence.append(_config_evidence(latest, "seed"), now)
        assert latest is not None
        return latest

    # -- proposals ---------------------------------------------------------------------------
    def propose(self, document: dict[str, Any], exact: dict[str, Any]) -> dict[str, Any]:
        """Store a SignalProposal; `exact` is the same body parsed with Decimal numbers."""
        validate_entity(document, "SignalProposal")
        if document["node"] != self._settings.node_id:
            raise InvalidRequest(
                f"/node: proposals here change {self._settings.node_id}'s signals",
                {"node": document["node"]},
            )
        opens = parse_timestamp(document["voting_opens"])
        closes = parse_timestamp(document["voting_closes"])
        if closes <= opens:
            raise InvalidRequest("/voting_closes must be after /voting_opens")
        changes = [_change(item) for item in exact["changes"]]
        self.in_force()
        now = self._clock.now()
        with self._uow(write=True) as uow:
            config = uow.signals.latest_config(for_update=True)
            assert config is not None
            period = period_of(closes)
            counting = uow.signals.counting_in_period(period)
            check_changes(changes, config.signals, period_usage(p.changes for p in counting))
            row = ProposalRow(
                id=f"SIGP-{self._random_hex(12)}",
                period=period,
                state="open",
                document=document,
                changes=changes,
                voting_opens=opens,
                voting_closes=closes,
                created=now,
            )
            uow.signals.insert_proposal(row)
        return self._view(row, [])

    def proposals(self, state: str | None = None, limit: int = 50) -> dict[str, Any]:
        if state is not None and state not in ("open", "passed", "failed"):
            raise InvalidRequest("state must be open, passed or failed", {"state": state})
        if not 1 <= limit <= MAX_LIST:
            raise InvalidRequest(f"limit must be between 1 and {MAX_LIST}")
        with self._uow() as uow:
            rows = uow.signals.proposals(limit, state)
            views = [self._view(row, uow.signals.choices(row.id)) for row in rows]
        return {"results": views}

    def proposal(self, proposal_id: str) -> dict[str, Any]:
        with self._uow() as uow:
            row = _found(uow.signals.proposal(proposal_id), proposal_id)
            return self._view(row, uow.signals.choices(row.id))

    def _view(self, row: ProposalRow, choices: list[str]) -> dict[str, Any]:
        votes_for = sum(1 for c in choices if c == "for")
        return {
            "id": row.id,
            "state": row.state,
            "period": row.period,
            "proposal": row.document,
            "ballots": {"for": votes_for, "against": len(choices) - votes_for},
            "created_at": format_timestamp(row.created),
            "closed_at": None if row.closed is None else format_timestamp(row.closed),
            "vote": row.result,
        }

    # -- ballots -----------------------------------------------------------------------------
    def ballot(
        self, proposal_id: str, body: dict[str, Any], principal: Principal | None = None
    ) -> dict[str, Any]:
        """Store one ballot; `principal` (the caller, always passed by the web route) must hold
        the voter's account unless an operator; None is an in-process caller the node trusts."""
        voter, choice = self._ballot_fields(body)
        now = self._clock.now()
        with self._uow(write=True) as uow:
            row = _found(uow.signals.proposal(proposal_id), proposal_id)
            if row.state != "open":
                raise Conflict(f"proposal {proposal_id} is {row.state}", {"state": row.state})
            if not row.voting_opens <= now < row.voting_closes:
                raise Conflict(
                    "ballots are accepted only while voting is open",
                    {
                        "voting_opens": format_timestamp(row.voting_opens),
                        "voting_closes": format_timestamp(row.voting_closes),
                        "now": format_timestamp(now),
                    },
                )
            ensure_account_holder(principal, uow.ledger.account(voter), "voter", voter)
            if not uow.signals.add_ballot(proposal_id, voter, choice, now):
                raise Conflict(f"{voter} has already voted on {proposal_id}", {"voter": voter})
            uow.evidence.append(
                EvidenceDraft(
                    event_type="signal.vote_recorded",
                    subject_type="signal",
                    subject_id=proposal_id,
                    actor=voter,
                    payload_hash=sha256_hex({"proposal": proposal_id, "voter": voter}),
                    summary={"proposal": proposal_id},
                ),
                now,
            )
        return {
            "proposal": proposal_id,
            "voter": voter,
            "choice": choice,
            "cast_at": format_timestamp(now),
        }

    def _ballot_fields(self, body: dict[str, Any]) -> tuple[str, str]:
        unknown = set(body) - {"voter", "choice"}
        if unknown:
            raise InvalidRequest(f"unknown ballot fields: {', '.join(sorted(unknown))}")
        voter, choice = body.get("voter"), body.get("choice")
        if choice not in ("for", "against"):
            raise InvalidRequest("/choice must be 'for' or 'against'", {"choice": str(choice)})
        match = VOTER_RE.match(voter) if isinstance(voter, str) else None
        if match is None:
            raise InvalidRequest(
                "/voter must be a pseudonymous LoopCoin account id such as "
                f"'user:u-4f2a@{self._settings.node_id}'",
            )
        if match.group(2) != self._settings.node_id:
            raise InvalidRequest(
                f"/voter must be an account of {self._settings.node_id}", {"voter": voter}
            )
        return str(voter), str(choice)

    # -- closing -----------------------------------------------------------------------------
    def close(self, proposal_id: str) -> dict[str, Any]:
        now = self._clock.now()
        self.in_force()
        with self._uow(write=True) as uow:
            config = uow.signals.latest_config(for_update=True)
            assert config is not None
            row = _found(uow.signals.proposal(proposal_id, for_update=True), proposal_id)
            if row.state != "open":
                assert row.result is not None
                return row.result
            if now < row.voting_closes:
                raise Conflict(
                    "voting is still open",
                    {"voting_closes": format_timestamp(row.voting_closes)},
                )
            counted = tally(
                uow.signals.choices(proposal_id),  # type: ignore[arg-type]
                eligible=self._settings.eligible_voters or None,
                quorum=self._settings.quorum,
            )
            vote = self._loop_vote(row, counted)
            uow.signals.decide(proposal_id, counted.status, vote, now)
            uow.evidence.append(_decision_evidence(row, vote), now)
            if counted.status == "passed":
                published = self._publish(config, row, counted, now)
                uow.signals.insert_config(published, now)
                self._cache = None
                uow.evidence.append(_config_evidence(published, proposal_id), now)
        return vote

    def _loop_vote(self, row: ProposalRow, counted: Tally) -> dict[str, Any]:
        proposals = []
        for change in row.changes:
            item: dict[str, Any] = {
                "category": change.category,
                "current_value": _number(change.current),
                "proposed_value": _number(change.proposed),
            }
            if change.reason is not None:
                item["rationale"] = change.reason
            proposals.append(item)
        return {
            "@context": CONTEXT,
            "@type": "LoopVote",
            "schema_version": SCHEMA_VERSION,
            "node": self._settings.node_id,
            "vote_id": row.id,
            "proposals": proposals,
            "voting_period": {
                "start": format_timestamp(row.voting_opens),
                "end": format_timestamp(row.voting_closes),
            },
            "results": {
                "total_eligible": counted.eligible,
                "total_voted": counted.voted,
                "votes_for": counted.votes_for,
                "votes_against": counted.votes_against,
                "status": counted.status,
            },
        }

    def _publish(
        self, config: StoredConfig, row: ProposalRow, counted: Tally, now: datetime
    ) -> StoredConfig:
        return StoredConfig(
            version=config.version + 1,
            node=self._settings.node_id,
            signals=apply_changes(config.signals, row.changes),
            valid_from=now,
            valid_until=now + timedelta(days=self._settings.config_days),
            vote_id=row.id,
            turnout=_ratio(counted.turnout),
            approval=_ratio(counted.approval),
        )


def _ratio(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"))


def _change(item: dict[str, Any]) -> Change:
    return Change(
        category=str(item["category"]),
        current=exact_decimal(item["current"]),
        proposed=exact_decimal(item["proposed"]),
        reason=item.get("reason"),
    )


def exact_decimal(value: object) -> Decimal:
    """A JSON number as the decimal its sender wrote (a float by its shortest repr)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return Decimal(value)
    raise InvalidRequest("signal values must be numbers", {"value": str(value)[:40]})


def _found(row: ProposalRow | None, proposal_id: str) -> ProposalRow:
    if row is None:
        raise NotFound(f"no signal proposal {proposal_id}", {"id": proposal_id})
    return row


def _config_evidence(config: StoredConfig, cause: str) -> EvidenceDraft:
    document = render_config(config)
    return EvidenceDraft(
        event_type="signal.config_published",
        subject_type="signal",
        subject_id=f"{config.node}#v{config.version}",
        actor=cause,
        payload_hash=sha256_hex(document),
        summary={"version": config.version, "signals": document["signals"]},
    )


def _decision_evidence(row: ProposalRow, vote: dict[str, Any]) -> EvidenceDraft:
    return EvidenceDraft(
        event_type="signal.proposal_decided",
        subject_type="signal",
        subject_id=row.id,
        actor="tally",
        payload_hash=sha256_hex(vote),
        summary={"status": vote["results"]["status"], "results": vote["results"]},
    )
