"""LoopSignalConfig, LoopVote and SignalProposal, `S/loopsignal.schema.json` (SPEC-DIGEST §1.10).

`LoopSignalConfig.signals` is closed: only the 30 MaterialDNA categories and `default`, each a
signal value in 0..1. LoopVote and SignalProposal name their fields differently
(`current_value`/`proposed_value`/`rationale` versus `current`/`proposed`/`reason`), as upstream.
"""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Len
from pydantic import Field

from loopnode.protocol.formats import DateTime
from loopnode.protocol.models.base import (
    ClosedModel,
    Context,
    NodeId,
    OpenModel,
    SchemaVersion,
    Text500,
)
from loopnode.protocol.models.json_types import Count, Fraction, Opt

SignalValue = Fraction


class Signals(ClosedModel):
    """Signal strength by material category; attribute names use `_` where keys use `-`."""

    plastic_pet: Opt[SignalValue] = Field(default=None, alias="plastic-pet")
    plastic_hdpe: Opt[SignalValue] = Field(default=None, alias="plastic-hdpe")
    plastic_pvc: Opt[SignalValue] = Field(default=None, alias="plastic-pvc")
    plastic_ldpe: Opt[SignalValue] = Field(default=None, alias="plastic-ldpe")
    plastic_pp: Opt[SignalValue] = Field(default=None, alias="plastic-pp")
    plastic_ps: Opt[SignalValue] = Field(default=None, alias="plastic-ps")
    plastic_mixed: Opt[SignalValue] = Field(default=None, alias="plastic-mixed")
    metal_steel: Opt[SignalValue] = Field(default=None, alias="metal-steel")
    metal_aluminum: Opt[SignalValue] = Field(default=None, alias="metal-aluminum")
    metal_copper: Opt[SignalValue] = Field(default=None, alias="metal-copper")
    metal_mixed: Opt[SignalValue] = Field(default=None, alias="metal-mixed")
    organic_food: Opt[SignalValue] = Field(default=None, alias="organic-food")
    organic_garden: Opt[SignalValue] = Field(default=None, alias="organic-garden")
    organic_wood: Opt[SignalValue] = Field(default=None, alias="organic-wood")
    glass_clear: Opt[SignalValue] = Field(default=None, alias="glass-clear")
    glass_brown: Opt[SignalValue] = Field(default=None, alias="glass-brown")
    glass_green: Opt[SignalValue] = Field(default=None, alias="glass-green")
    glass_mixed: Opt[SignalValue] = Field(default=None, alias="glass-mixed")
    paper_clean: Opt[SignalValue] = Field(default=None, alias="paper-clean")
    paper_newsprint: Opt[SignalValue] = Field(default=None, alias="paper-newsprint")
    cardboard: Opt[SignalValue] = None
    paper_mixed: Opt[SignalValue] = Field(default=None, alias="paper-mixed")
    textile_cotton: Opt[SignalValue] = Field(default=None, alias="textile-cotton")
    textile_wool: Opt[SignalValue] = Field(default=None, alias="textile-wool")
    textile_synthetic: Opt[SignalValue] = Field(default=None, alias="textile-synthetic")
    textile_mixed: Opt[SignalValue] = Field(default=None, alias="textile-mixed")
    ewaste_computers: Opt[SignalValue] = Field(default=None, alias="ewaste-computers")
    ewaste_phones: Opt[SignalValue] = Field(default=None, alias="ewaste-phones")
    ewaste_batteries: Opt[SignalValue] = Field(default=None, alias="ewaste-batteries")
    ewaste_mixed: Opt[SignalValue] = Field(default=None, alias="ewaste-mixed")
    default: Opt[SignalValue] = None


class Approval(OpenModel):
    vote_id: Opt[str] = None
    turnout: Opt[Fraction] = None
    approval: Opt[Fraction] = None


class LoopSignalConfig(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["LoopSignalConfig"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    node: NodeId
    signals: Signals
    valid_from: DateTime
    valid_until: DateTime
    approved_by: Opt[Approval] = None


class VoteProposal(OpenModel):
    category: str
    current_value: SignalValue
    proposed_value: SignalValue
    rationale: Opt[Text500] = None


class VotingPeriod(OpenModel):
    start: DateTime
    end: DateTime


class VoteResults(OpenModel):
    total_eligible: Count
    total_voted: Count
    votes_for: Count
    votes_against: Count
    status: Literal["passed", "failed", "pending"]


class LoopVote(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["LoopVote"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    node: NodeId
    vote_id: str
    proposals: list[VoteProposal]
    voting_period: VotingPeriod
    results: VoteResults


class SignalChange(OpenModel):
    category: str
    current: SignalValue
    proposed: SignalValue
    reason: Opt[Text500] = None


class SignalProposal(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["SignalProposal"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    node: NodeId
    changes: Annotated[list[SignalChange], Len(min_length=1)]
    voting_opens: DateTime
    voting_closes: DateTime
