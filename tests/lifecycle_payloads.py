"""Payload builders for the exchange lifecycle tests (valid by default, overridable)."""

from __future__ import annotations

from typing import Any

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
UNTIL = "2026-07-01T00:00:00Z"  # a month after the FakeClock's now
MATERIAL_ID = "MAT-DE-MUC-2026-PLASTIC-A00001"
PRODUCT_ID = "PRD-DE-MUC-2026-DESK-B00001"


def subject_field(subject_id: str) -> str:
    return "material_id" if subject_id.startswith("MAT-") else "product_id"


def material(
    record_id: str = MATERIAL_ID, value: float = 100, unit: str = "kg", **extra: Any
) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "@type": "MaterialDNA",
        "schema_version": "0.2.0",
        "id": record_id,
        "category": "plastic-pet",
        "quantity": {"value": value, "unit": unit},
        "origin_city": "Munich",
        "current_city": "Munich",
        "available_from": "2026-05-01T08:00:00Z",
        **extra,
    }


def product(record_id: str = PRODUCT_ID, value: float = 12, **extra: Any) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "@type": "ProductDNA",
        "schema_version": "0.2.0",
        "id": record_id,
        "product_category": "furniture-office",
        "name": "Office desk",
        "quantity": {"value": value, "unit": "piece"},
        "origin_city": "Munich",
        "current_city": "Munich",
        "available_from": "2026-05-01T08:00:00Z",
        "condition": "good",
        **extra,
    }


def offer(
    subject_id: str = MATERIAL_ID,
    value: float = 10,
    unit: str = "kg",
    *,
    status: str = "open",
    to_city: str = "Berlin",
    offer_id: str | None = None,
    until: str = UNTIL,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "Offer",
        "schema_version": "0.2.0",
        subject_field(subject_id): subject_id,
        "from_city": "Munich",
        "to_city": to_city,
        "quantity": {"value": value, "unit": unit},
        "status": status,
        "available_until": until,
        **extra,
    }
    if offer_id is not None:
        body["id"] = offer_id
    return body


def match(
    offer_id: str,
    subject_id: str = MATERIAL_ID,
    *,
    status: str = "proposed",
    to_city: str = "Berlin",
    match_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "Match",
        "schema_version": "0.2.0",
        subject_field(subject_id): subject_id,
        "offer_id": offer_id,
        "from_city": "Munich",
        "to_city": to_city,
        "status": status,
        "matched_at": "2026-06-01T11:00:00Z",
        **extra,
    }
    if match_id is not None:
        body["id"] = match_id
    return body


def transfer(
    match_id: str,
    subject_id: str = MATERIAL_ID,
    *,
    status: str = "scheduled",
    transfer_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "Transfer",
        "schema_version": "0.2.0",
        subject_field(subject_id): subject_id,
        "match_id": match_id,
        "status": status,
        "handoff_at": "2026-06-02T09:00:00Z",
        **extra,
    }
    if transfer_id is not None:
        body["id"] = transfer_id
    return body


def status_update(
    material_id: str = MATERIAL_ID, status: str = "reserved", **extra: Any
) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "@type": "MaterialStatusUpdate",
        "schema_version": "0.2.0",
        "material_id": material_id,
        "status": status,
        "updated_at": "2026-06-01T12:00:00Z",
        **extra,
    }


def transaction(
    transaction_id: str = "TXN-2026-06-01-001",
    material_id: str = MATERIAL_ID,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "@type": "MaterialTransaction",
        "id": transaction_id,
        "material": material_id,
        "seller": "munich.loop",
        "buyer": "berlin.loop",
        "offer": {"base_price": 120, "loop_cost": 156},
        "timestamp": "2026-06-01T10:00:00Z",
        **extra,
    }


def settlement(
    transaction_id: str = "TXN-2026-06-01-001",
    material_id: str = MATERIAL_ID,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "@type": "Settlement",
        "transaction_id": transaction_id,
        "material": material_id,
        "seller": "munich.loop",
        "buyer": "berlin.loop",
        "final_cost": 156,
        "distribution": {
            "seller_receives": 120,
            "seller_community_fund": 24,
            "buyer_community_fund": 12,
            "transport_cost": 0,
        },
        "settled_at": "2026-06-01T11:00:00Z",
        **extra,
    }


def transaction_status(
    status: str, transaction_id: str = "TXN-2026-06-01-001", **extra: Any
) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "@type": "TransactionStatus",
        "transaction_id": transaction_id,
        "status": status,
        "updated_at": "2026-06-01T12:00:00Z",
        **extra,
    }
