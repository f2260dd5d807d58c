"""Offer, Match, Transfer and MaterialStatusUpdate (SPEC-DIGEST §1.3-§1.6).

Offer, Match and Transfer name their subject with `material_id`, `product_id` or both: the
schemas' `anyOf: [{required: [material_id]}, {required: [product_id]}]`.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, ModelWrapValidatorHandler, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from loopnode.protocol.formats import DateTime, Uri, Uuid
from loopnode.protocol.models.base import (
    City,
    Context,
    MaterialId,
    OpenModel,
    ProductId,
    RecordId,
    SchemaVersion,
    Text120,
    Text280,
    Text500,
)
from loopnode.protocol.models.common import Quantity, Traceability, TransferPassport
from loopnode.protocol.models.json_types import Number, Opt


class _Subject(OpenModel):
    """The `anyOf` on the subject; subclasses declare `material_id` and `product_id`.

    A wrap validator so that a missing subject is reported together with the other errors.
    """

    @model_validator(mode="wrap")
    @classmethod
    def _require_subject(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if not isinstance(data, dict) or "material_id" in data or "product_id" in data:
            return handler(data)
        missing = InitErrorDetails(
            type=PydanticCustomError(
                "subject_required", "must have 'material_id' or 'product_id' (or both)"
            ),
            loc=(),
            input=data,
        )
        try:
            handler(data)
        except ValidationError as exc:
            details = [*_as_init_details(exc), missing]
        else:
            details = [missing]
        raise ValidationError.from_exception_data(cls.__name__, details)


def _as_init_details(exc: ValidationError) -> list[InitErrorDetails]:
    # Re-raised as custom errors with the rendered message; the error type names are kept.
    return [
        InitErrorDetails(
            type=PydanticCustomError(error["type"], error["msg"]),
            loc=error["loc"],
            input=error["input"],
        )
        for error in exc.errors(include_url=False)
    ]


class Offer(_Subject):
    at_context: Context = Field(alias="@context")
    at_type: Literal["Offer"] = Field(alias="@type")
    schema_version: SchemaVersion
    id: RecordId
    material_id: Opt[MaterialId] = None
    product_id: Opt[ProductId] = None
    from_city: City
    to_city: City
    quantity: Quantity
    status: Literal["open", "reserved", "withdrawn"]
    available_until: DateTime
    terms: Opt[Text280] = None
    metadata: Opt[dict[str, Any]] = None


class Match(_Subject):
    at_context: Context = Field(alias="@context")
    at_type: Literal["Match"] = Field(alias="@type")
    schema_version: SchemaVersion
    id: RecordId
    material_id: Opt[MaterialId] = None
    product_id: Opt[ProductId] = None
    offer_id: RecordId
    from_city: City
    to_city: City
    status: Literal["proposed", "accepted", "rejected", "expired"]
    matched_at: DateTime
    metadata: Opt[dict[str, Any]] = None


class Route(OpenModel):
    from_city: Opt[str] = None
    to_city: Opt[str] = None
    mode: Opt[str] = None


class EnvironmentalConditions(OpenModel):
    temperature_c: Opt[Number] = None
    humidity_percent: Opt[Number] = None


class Transfer(_Subject):
    at_context: Context = Field(alias="@context")
    at_type: Literal["Transfer"] = Field(alias="@type")
    schema_version: SchemaVersion
    id: RecordId
    material_id: Opt[MaterialId] = None
    product_id: Opt[ProductId] = None
    match_id: RecordId
    status: Literal["scheduled", "in_transit", "completed", "cancelled"]
    handoff_at: DateTime
    received_at: Opt[DateTime] = None
    route: Opt[Route] = None
    metadata: Opt[dict[str, Any]] = None
    traceability: Opt[Traceability] = None
    passport: Opt[TransferPassport] = None
    waste_shipment_doc_ref: Opt[Uri] = None
    environmental_conditions: Opt[EnvironmentalConditions] = None


class MaterialStatusUpdate(OpenModel):
    """A material's availability change (lab-demo extension; materials only)."""

    at_context: Context = Field(alias="@context")
    at_type: Literal["MaterialStatusUpdate"] = Field(alias="@type")
    schema_version: SchemaVersion
    id: Uuid
    material_id: MaterialId
    status: Literal["available", "reserved", "withdrawn"]
    updated_at: DateTime
    reason: Opt[Text120] = None
    notes: Opt[Text500] = None
    source_node: Opt[Text120] = None
    metadata: Opt[dict[str, Any]] = None
