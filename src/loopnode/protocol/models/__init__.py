"""The LOOP entity models: hand-written Pydantic v2 models with AJV's exact verdicts.

Each model accepts exactly the payloads that AJV 8 + ajv-formats 3 accept for the matching core
schema (or openapi component), keeps unknown properties where the schema allows them, and keeps
string values as received. Use `loopnode.protocol.validation` to validate a payload by `@type`.
"""

from loopnode.protocol.models.federation import (
    FederateAcceptedResponse,
    MaterialAnnouncement,
    MaterialOffer,
)
from loopnode.protocol.models.handshake import NodeHandshake, NodeHandshakeResponse
from loopnode.protocol.models.lifecycle import Match, MaterialStatusUpdate, Offer, Transfer
from loopnode.protocol.models.loopcoin import InterNodeSettlement, LoopCoinConfig, LoopCoinTransfer
from loopnode.protocol.models.loopsignal import LoopSignalConfig, LoopVote, SignalProposal
from loopnode.protocol.models.material import MaterialDNA
from loopnode.protocol.models.node_info import NodeInfo, NodeRegistry, NodeStatus
from loopnode.protocol.models.product import ProductDNA
from loopnode.protocol.models.transaction import MaterialTransaction, Settlement, TransactionStatus

__all__ = [
    "FederateAcceptedResponse",
    "InterNodeSettlement",
    "LoopCoinConfig",
    "LoopCoinTransfer",
    "LoopSignalConfig",
    "LoopVote",
    "Match",
    "MaterialAnnouncement",
    "MaterialDNA",
    "MaterialOffer",
    "MaterialStatusUpdate",
    "MaterialTransaction",
    "NodeHandshake",
    "NodeHandshakeResponse",
    "NodeInfo",
    "NodeRegistry",
    "NodeStatus",
    "Offer",
    "ProductDNA",
    "Settlement",
    "SignalProposal",
    "TransactionStatus",
    "Transfer",
]
