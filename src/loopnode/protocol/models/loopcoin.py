"""LoopCoinConfig, LoopCoinTransfer and InterNodeSettlement, `S/loopcoin.schema.json`
(SPEC-DIGEST §1.9). All open; `schema_version` is optional here.

Amounts are validated as JSON numbers and kept as received; the ledger converts them to
Decimal (DECISIONS 12). Schema defaults (`local_bonus` 0.05, ...) are not filled in: absent
stays absent, so a relayed payload is unchanged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from loopnode.protocol.formats import DateTime, Uuid
from loopnode.protocol.models.base import (
    AccountId,
    Context,
    CurrencyCode,
    MaterialId,
    NodeId,
    OpenModel,
    SchemaVersion,
    Text200,
)
from loopnode.protocol.models.json_types import Count, JsonNumber, NonNegative, Opt


class LoopCoinConfig(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["LoopCoinConfig"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    issuer: NodeId
    currency_code: CurrencyCode
    backed_by: Literal["EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK"]
    exchange_rate: NonNegative
    local_bonus: Opt[Annotated[int | float, JsonNumber(minimum=0, maximum=0.5)]] = None
    expiry_months: Annotated[int, JsonNumber(minimum=1, maximum=12, integer=True)]
    decay_rate: Opt[Annotated[int | float, JsonNumber(minimum=0, maximum=0.2)]] = None
    max_issuance: Opt[Count] = None
    current_supply: Opt[Count] = None
    reserve_ratio: Opt[NonNegative] = None


class LoopCoinTransfer(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["LoopCoinTransfer"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    id: Uuid
    from_: AccountId = Field(alias="from")
    to: AccountId
    amount: Annotated[int | float, JsonNumber(minimum=0.01)]
    currency: CurrencyCode
    material_ref: Opt[MaterialId] = None
    timestamp: DateTime
    memo: Opt[Text200] = None
    signature: Opt[str] = None


class SettlementFees(OpenModel):
    export_penalty: Opt[NonNegative] = None
    import_penalty: Opt[NonNegative] = None
    distance_cost: Opt[NonNegative] = None


class SettlementTransfer(OpenModel):
    """One leg of an InterNodeSettlement; `from`/`to` are free strings here."""

    from_: str = Field(alias="from")
    to: str
    amount: NonNegative
    from_currency: CurrencyCode
    to_currency: CurrencyCode
    exchange_rate: Opt[NonNegative] = None
    fees: Opt[SettlementFees] = None


class InterNodeSettlement(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["InterNodeSettlement"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    from_node: NodeId
    to_node: NodeId
    transfers: list[SettlementTransfer]
    settlement_method: Literal["clearing", "gross", "netting"]
    settlement_period: Opt[Literal["immediate", "hourly", "daily", "weekly"]] = None
