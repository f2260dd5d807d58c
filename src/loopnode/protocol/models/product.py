"""ProductDNA, `S/product-dna.schema.json` (SPEC-DIGEST §1.2).

No `classification` block is declared: one may be sent and is kept unvalidated, as upstream.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from loopnode.protocol.formats import DateTime, JsonString
from loopnode.protocol.models.base import (
    City,
    Context,
    Images,
    MaterialId,
    OpenModel,
    ProductId,
    SchemaVersion,
    Text120,
    Text200,
    Text500,
)
from loopnode.protocol.models.common import (
    ConformityClaim,
    Location,
    ProductPassport,
    ProductTraceability,
    Quantity,
)
from loopnode.protocol.models.json_types import Forbidden, JsonNumber, NonNegative, Opt

ProductCategory = Literal[
    "furniture-office",
    "furniture-residential",
    "furniture-industrial",
    "building-structural",
    "building-fixture",
    "building-hvac",
    "building-electrical",
    "electronics-computing",
    "electronics-mobile",
    "electronics-appliance",
    "electronics-components",
    "textile-garment",
    "textile-industrial",
    "packaging-reusable",
    "vehicle-parts",
    "equipment-industrial",
    "equipment-medical",
]


class Dimensions(OpenModel):
    length_cm: Opt[NonNegative] = None
    width_cm: Opt[NonNegative] = None
    height_cm: Opt[NonNegative] = None
    weight_kg: Opt[NonNegative] = None


class ProductDNA(OpenModel):
    """A registered reusable product; `material_ids` link its constituent materials."""

    at_context: Context = Field(alias="@context")
    at_type: Literal["ProductDNA"] = Field(alias="@type")
    schema_version: SchemaVersion
    id: ProductId
    product_category: ProductCategory
    name: Annotated[str, JsonString(min_length=2, max_length=200)]
    condition: Literal["new", "like-new", "good", "fair", "poor", "for-parts"]
    quantity: Quantity
    origin_city: City
    current_city: City
    available_from: DateTime
    expires: Opt[DateTime] = None
    manufacturer: Opt[Text200] = None
    model: Opt[Text200] = None
    manufacture_year: Opt[Annotated[int, JsonNumber(minimum=1900, integer=True)]] = None
    serial_number: Opt[Text120] = None
    functional_status: Opt[
        Literal["fully-functional", "partially-functional", "non-functional", "untested"]
    ] = None
    lifecycle_stage: Opt[
        Literal["production", "in-use", "end-of-first-use", "refurbished", "end-of-life"]
    ] = None
    material_ids: Opt[list[MaterialId]] = None
    dimensions: Opt[Dimensions] = None
    images: Opt[Images] = None
    reuse_potential: Opt[Text500] = None
    certifications: Opt[list[str]] = None
    location: Opt[Location] = None
    contact: Forbidden = Field(default=None, exclude=True)
    passport: Opt[ProductPassport] = None
    traceability: Opt[ProductTraceability] = None
    conformity_claims: Opt[list[ConformityClaim]] = None
    metadata: Opt[dict[str, Any]] = None
