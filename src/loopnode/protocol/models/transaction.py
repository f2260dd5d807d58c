"""MaterialTransaction, Settlement and TransactionStatus, `S/transaction.schema.json`
(SPEC-DIGEST §1.11). Materials only: `material` is a MAT- id.

MaterialTransaction's `status` lacks `in_transit` and `delivered`, which TransactionStatus has;
both follow the schema.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from loopnode.protocol.formats import DateTime
from loopnode.protocol.models.base import (
    Context,
    MaterialId,
    NodeId,
    OpenModel,
    SchemaVersion,
    Text500,
    TransactionId,
)
from loopnode.protocol.models.json_types import NonNegative, Number, Opt


class CostBreakdown(OpenModel):
    export_penalty: Opt[NonNegative] = None
    import_penalty: Opt[NonNegative] = None
    distance_cost: Opt[NonNegative] = None


class TransactionOffer(OpenModel):
    base_price: NonNegative
    loop_cost: NonNegative
    breakdown: Opt[CostBreakdown] = None


class MaterialTransaction(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["MaterialTransaction"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    id: TransactionId
    material: MaterialId
    seller: NodeId
    buyer: NodeId
    offer: TransactionOffer
    timestamp: DateTime
    status: Opt[Literal["pending", "confirmed", "completed", "cancelled", "disputed"]] = None


class Distribution(OpenModel):
    seller_receives: NonNegative
    seller_community_fund: Opt[NonNegative] = None
    buyer_community_fund: Opt[NonNegative] = None
    transport_cost: Opt[NonNegative] = None


class Confirmation(OpenModel):
    material_transferred: Opt[bool] = None
    payment_completed: Opt[bool] = None
    signatures: Opt[list[str]] = None


class Settlement(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["Settlement"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    transaction_id: TransactionId
    material: MaterialId
    seller: NodeId
    buyer: NodeId
    final_cost: NonNegative
    distribution: Distribution
    settled_at: DateTime
    confirmation: Opt[Confirmation] = None


class Position(OpenModel):
    """A loose position: numbers, nothing required, no bounds."""

    lat: Opt[Number] = None
    lon: Opt[Number] = None


class TransactionDetails(OpenModel):
    location: Opt[Position] = None
    estimated_arrival: Opt[DateTime] = None
    notes: Opt[Text500] = None


class TransactionStatus(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["TransactionStatus"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    transaction_id: TransactionId
    status: Literal[
        "pending", "confirmed", "in_transit", "delivered", "completed", "cancelled", "disputed"
    ]
    updated_at: DateTime
    details: Opt[TransactionDetails] = None
    settlement_url: Opt[str] = None
