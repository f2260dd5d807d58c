"""MaterialDNA, `S/material-dna.schema.json` (SPEC-DIGEST §1.1)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from loopnode.protocol.formats import DateTime
from loopnode.protocol.models.base import (
    City,
    Context,
    Images,
    MaterialId,
    OpenModel,
    SchemaVersion,
)
from loopnode.protocol.models.common import (
    Classification,
    ConformityClaim,
    Location,
    MaterialMetadata,
    MaterialPassport,
    Quantity,
    Traceability,
)
from loopnode.protocol.models.json_types import Forbidden, Fraction, Opt

MaterialCategory = Literal[
    "plastic-pet",
    "plastic-hdpe",
    "plastic-pvc",
    "plastic-ldpe",
    "plastic-pp",
    "plastic-ps",
    "plastic-mixed",
    "metal-steel",
    "metal-aluminum",
    "metal-copper",
    "metal-mixed",
    "organic-food",
    "organic-garden",
    "organic-wood",
    "glass-clear",
    "glass-brown",
    "glass-green",
    "glass-mixed",
    "paper-clean",
    "paper-newsprint",
    "cardboard",
    "paper-mixed",
    "textile-cotton",
    "textile-wool",
    "textile-synthetic",
    "textile-mixed",
    "ewaste-computers",
    "ewaste-phones",
    "ewaste-batteries",
    "ewaste-mixed",
]


class MaterialDNA(OpenModel):
    """A registered material. The schema has no `status`; a node's `"registered"` is an extra."""

    at_context: Context = Field(alias="@context")
    at_type: Literal["MaterialDNA"] = Field(alias="@type")
    schema_version: SchemaVersion
    id: MaterialId
    category: MaterialCategory
    quantity: Quantity
    quality: Opt[Fraction] = None
    origin_city: City
    current_city: City
    location: Opt[Location] = None
    available_from: DateTime
    expires: Opt[DateTime] = None
    certifications: Opt[list[str]] = None
    images: Opt[Images] = None
    contact: Forbidden = Field(default=None, exclude=True)
    passport: Opt[MaterialPassport] = None
    classification: Opt[Classification] = None
    traceability: Opt[Traceability] = None
    metadata: Opt[MaterialMetadata] = None
    conformity_claims: Opt[list[ConformityClaim]] = None
