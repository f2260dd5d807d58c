"""Sub-objects shared by the DNA and lifecycle schemas (SPEC-DIGEST §1.0 "Shared sub-objects").

Quantity, location, the passport (material, product and transfer variants), classification,
traceability (full and product variants), EPCIS references and conformity claims. All of them
allow additional properties. The variants differ in the properties they check; a property one
variant does not declare is still accepted there, unvalidated, as an extra.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import MaxLen

from loopnode.protocol.formats import DateTime, JsonString, Uri
from loopnode.protocol.models.base import CountryCode, OpenModel, Text120, Text160, Text200, Text500
from loopnode.protocol.models.json_types import (
    Fraction,
    Latitude,
    Longitude,
    NonNegative,
    Number,
    Opt,
    Percent,
    Score10,
)

Unit = Literal["kg", "g", "t", "l", "ml", "m3", "piece", "bundle"]
AccessScope = Literal["public", "role-based", "restricted"]
Audience = Literal["public", "operator", "regulator"]
PassportStatus = Literal["not_applicable", "optional", "required", "available", "restricted"]
Regime = Literal["espr-dpp", "battery-passport", "ppwr", "waste-shipment", "nkws"]
FreeObject = dict[str, Any]


class Quantity(OpenModel):
    value: NonNegative
    unit: Unit


class Location(OpenModel):
    lat: Latitude
    lon: Longitude
    address: Opt[str] = None


class SubstanceOfConcern(OpenModel):
    name: str
    cas_number: Opt[Annotated[str, JsonString(pattern=r"^\d{1,7}-\d{2}-\d$")]] = None
    concentration_ppm: Opt[Number] = None
    location: Opt[str] = None


class _PassportCore(OpenModel):
    """The 27 passport properties common to the material and product variants."""

    passport_id: Opt[Text160] = None
    passport_url: Opt[Uri] = None
    backup_copy_url: Opt[Uri] = None
    passport_status: Opt[PassportStatus] = None
    data_carrier_id: Opt[Text160] = None
    access_scope: Opt[AccessScope] = None
    visible_to: Opt[Audience] = None
    supported_regimes: Opt[list[Regime]] = None
    gtin: Opt[Annotated[str, JsonString(pattern=r"^\d{8,14}$")]] = None
    gs1_digital_link: Opt[Uri] = None
    economic_operator_id: Opt[Text120] = None
    economic_operator_name: Opt[Text200] = None
    manufacturer_id: Opt[Text120] = None
    country_of_production: Opt[CountryCode] = None
    conformity_declaration_ref: Opt[Uri] = None
    carbon_footprint_kg_co2e: Opt[NonNegative] = None
    carbon_footprint_unit: Opt[str] = None
    recycled_content_percent: Opt[Percent] = None
    recyclable_content_percent: Opt[Percent] = None
    repair_score: Opt[Score10] = None
    durability_score: Opt[Score10] = None
    disassembly_instructions: Opt[Uri] = None
    substances_of_concern: Opt[list[SubstanceOfConcern]] = None
    hazardous: Opt[bool] = None
    material_safety_info_url: Opt[Uri] = None
    verified_ratio: Opt[Fraction] = None
    verification_evidence_url: Opt[Uri] = None


class MaterialPassport(_PassportCore):
    issuer: Opt[Text160] = None


class ProductPassport(_PassportCore):
    issued_at: Opt[DateTime] = None
    issuer_node: Opt[Text160] = None


class TransferPassport(OpenModel):
    """The passport subset a Transfer carries."""

    passport_id: Opt[Text160] = None
    passport_url: Opt[Uri] = None
    access_scope: Opt[AccessScope] = None
    visible_to: Opt[Audience] = None


class Classification(OpenModel):
    """MaterialDNA only: customs, waste and product codes."""

    ewc_code: Opt[Annotated[str, JsonString(pattern=r"^\d{2}(\s\d{2}){2}$")]] = None
    hs_code: Opt[Annotated[str, JsonString(pattern=r"^\d{6,10}$")]] = None
    cn_code: Opt[Annotated[str, JsonString(pattern=r"^\d{8}$")]] = None
    battery_category: Opt[Literal["portable", "lmt", "sli", "industrial", "ev"]] = None
    prodcom_code: Opt[Annotated[str, JsonString(pattern=r"^\d{8}$")]] = None
    taric_code: Opt[Annotated[str, JsonString(pattern=r"^\d{10}$")]] = None
    nace_code: Opt[Annotated[str, JsonString(pattern=r"^[A-Z]\d{2}(\.\d{1,2})?$")]] = None
    scip_id: Opt[str] = None
    waste_framework_code: Opt[str] = None


class EpcisEventRef(OpenModel):
    event_type: Literal["observation", "aggregation", "transaction", "transformation"]
    event_id: str
    event_url: Opt[Uri] = None
    hash_digest: Opt[str] = None
    hash_method: Opt[Literal["SHA-256", "SHA-384", "SHA-512"]] = None


class ProductTraceability(OpenModel):
    """The 7 traceability properties ProductDNA declares."""

    batch_id: Opt[Text120] = None
    serial_number: Opt[Text160] = None
    lot_number: Opt[Text120] = None
    epcis_event_refs: Opt[list[EpcisEventRef]] = None
    chain_of_custody_url: Opt[Uri] = None
    w3c_vc_credential_id: Opt[Uri] = None
    w3c_vc_issuer: Opt[Uri] = None


class Traceability(ProductTraceability):
    """The 12 traceability properties of MaterialDNA and Transfer."""

    source_operator_id: Opt[Text120] = None
    facility_id: Opt[Text120] = None
    retention_until: Opt[DateTime] = None
    document_refs: Opt[Annotated[list[Uri], MaxLen(20)]] = None
    due_diligence_ref: Opt[Text160] = None


class DeclaredValue(OpenModel):
    metric: Opt[str] = None
    value: Opt[Number] = None
    unit: Opt[str] = None
    accuracy: Opt[Number] = None


class ConformityClaim(OpenModel):
    claim_id: str
    description: Opt[str] = None
    reference_standard: Opt[str] = None
    reference_regulation: Opt[str] = None
    conformity_topic: Opt[Literal["environment", "social", "governance", "safety", "quality"]] = (
        None
    )
    declared_value: Opt[DeclaredValue] = None
    conformance: Opt[bool] = None
    assessment_date: Opt[DateTime] = None
    conformity_evidence_url: Opt[Uri] = None


class MaterialMetadata(OpenModel):
    source: Opt[str] = None
    batch_number: Opt[str] = None
    notes: Opt[Text500] = None
