"""Hand-built valid payloads that exercise every declared property of every entity family.

They complement the official examples (which leave many properties and some definitions out).
`test_seeds_are_valid_for_ajv` checks each one against the oracle, so a wrong seed cannot hide.
"""

from __future__ import annotations

from typing import Any

CTX = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
CTX_OLD = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.1.1.jsonld"
PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
    "-----END PUBLIC KEY-----"
)

_PASSPORT_CORE: dict[str, Any] = {
    "passport_id": "DPP-DE-MUC-2025-B847F3",
    "passport_url": "https://example.com/passports/B847F3",
    "backup_copy_url": "https://backup.example.com/passports/B847F3",
    "passport_status": "available",
    "data_carrier_id": "urn:epc:id:sgtin:426001.123456.2025B847F3",
    "access_scope": "role-based",
    "visible_to": "operator",
    "supported_regimes": ["espr-dpp", "battery-passport", "ppwr", "waste-shipment", "nkws"],
    "gtin": "04012345678901",
    "gs1_digital_link": "https://id.gs1.org/01/04012345678901",
    "economic_operator_id": "DE-ECO-00123",
    "economic_operator_name": "Munich Recycling GmbH",
    "manufacturer_id": "MFR-001",
    "country_of_production": "DE",
    "conformity_declaration_ref": "https://example.com/doc/ce.pdf",
    "carbon_footprint_kg_co2e": 1.2,
    "carbon_footprint_unit": "per_kg",
    "recycled_content_percent": 85,
    "recyclable_content_percent": 95.5,
    "repair_score": 7.5,
    "durability_score": 10,
    "disassembly_instructions": "https://example.com/disassembly",
    "substances_of_concern": [
        {"name": "Lead", "cas_number": "7439-92-1", "concentration_ppm": 12.5, "location": "solder"}
    ],
    "hazardous": False,
    "material_safety_info_url": "https://example.com/msds.pdf",
    "verified_ratio": 0.9,
    "verification_evidence_url": "https://example.com/verification/1",
}
_TRACE_PRODUCT: dict[str, Any] = {
    "batch_id": "BATCH-2026-W11-PET-001",
    "serial_number": "SN-0001",
    "lot_number": "LOT-7",
    "epcis_event_refs": [
        {
            "event_type": "transformation",
            "event_id": "urn:epc:id:gdti:4012345.00001.123",
            "event_url": "https://example.com/epcis/events/123",
            "hash_digest": "a1b2c3",
            "hash_method": "SHA-256",
        }
    ],
    "chain_of_custody_url": "https://example.com/coc/1",
    "w3c_vc_credential_id": "urn:uuid:3c9a6a0b-8c1a-4d3f-9c2c-3c1c2f9d5c2a",
    "w3c_vc_issuer": "did:web:example.com",
}
_TRACE_FULL: dict[str, Any] = {
    **_TRACE_PRODUCT,
    "source_operator_id": "OP-DE-MUC-001",
    "facility_id": "FAC-DE-MUC-RCY-01",
    "retention_until": "2031-03-15T00:00:00Z",
    "document_refs": ["https://example.com/docs/1.pdf", "https://example.com/docs/2.pdf"],
    "due_diligence_ref": "DD-2025-0042",
}
_CLAIM: dict[str, Any] = {
    "claim_id": "CLM-ESPR-RC-001",
    "description": "Recycled content meets ESPR minimum threshold",
    "reference_standard": "EN 15343",
    "reference_regulation": "Regulation (EU) 2024/1781",
    "conformity_topic": "environment",
    "declared_value": {
        "metric": "recycled_content",
        "value": 85,
        "unit": "percent",
        "accuracy": 2.5,
    },
    "conformance": True,
    "assessment_date": "2026-03-01T10:00:00Z",
    "conformity_evidence_url": "https://example.com/conformity/1",
}

MATERIAL = {
    "@context": CTX,
    "@type": "MaterialDNA",
    "schema_version": "0.2.0",
    "id": "MAT-DE-MUC-2025-PLASTIC-B847F3",
    "category": "glass-green",
    "quantity": {"value": 1000.5, "unit": "t"},
    "quality": 1,
    "origin_city": "München",
    "current_city": "Berlin",
    "location": {"lat": -90, "lon": 180, "address": "Sachsenstraße 25"},
    "available_from": "2025-05-27T10:00:00Z",
    "expires": "2025-06-03T10:00:00+02:00",
    "certifications": ["food-grade", "iso-14001"],
    "images": ["https://example.com/a.jpg", "https://example.com/b.jpg"],
    "passport": {**_PASSPORT_CORE, "issuer": "lab-hub.loop"},
    "classification": {
        "ewc_code": "15 01 02",
        "hs_code": "391510",
        "cn_code": "39151000",
        "battery_category": "ev",
        "prodcom_code": "22221300",
        "taric_code": "3915100000",
        "nace_code": "C22.2",
        "scip_id": "SCIP-1",
        "waste_framework_code": "R3",
    },
    "traceability": _TRACE_FULL,
    "metadata": {"source": "industrial", "batch_number": "2025-W22-01", "notes": "Clean", "x": 1},
    "conformity_claims": [_CLAIM],
    "status": "registered",
}

PRODUCT = {
    "@context": CTX_OLD,
    "@type": "ProductDNA",
    "schema_version": "0.1.1",
    "id": "PRD-DE-MUC-2025-DESK-F4A7B2",
    "product_category": "electronics-computing",
    "name": "Laptop",
    "condition": "for-parts",
    "quantity": {"value": 3, "unit": "piece"},
    "origin_city": "Munich",
    "current_city": "Munich",
    "available_from": "2026-03-15T08:00:00.250Z",
    "expires": "2026-04-15T08:00:00Z",
    "manufacturer": "Acme",
    "model": "X1",
    "manufacture_year": 2021,
    "serial_number": "SN-42",
    "functional_status": "untested",
    "lifecycle_stage": "refurbished",
    "material_ids": ["MAT-DE-MUC-2025-METAL-4EB84C"],
    "dimensions": {"length_cm": 30, "width_cm": 20.5, "height_cm": 2, "weight_kg": 1.4},
    "images": ["https://example.com/p.jpg"],
    "reuse_potential": "Good",
    "certifications": ["tco"],
    "location": {"lat": 48.1, "lon": 11.5},
    "passport": {
        **_PASSPORT_CORE,
        "issued_at": "2026-03-10T10:00:00Z",
        "issuer_node": "munich.loop",
    },
    "traceability": _TRACE_PRODUCT,
    "conformity_claims": [_CLAIM],
    "metadata": {"anything": [1, "two"]},
}

OFFER = {
    "@context": CTX,
    "@type": "Offer",
    "schema_version": "0.2.0",
    "id": "OFR-2F7A6B9C",
    "material_id": "MAT-DE-MUC-2025-PLASTIC-B847F3",
    "product_id": "PRD-DE-MUC-2025-DESK-F4A7B2",
    "from_city": "Munich",
    "to_city": "any",
    "quantity": {"value": 0, "unit": "bundle"},
    "status": "reserved",
    "available_until": "2025-06-05T10:00:00Z",
    "terms": "Pickup within 48 hours",
    "metadata": {"base_price": 120},
}

MATCH = {
    "@context": CTX,
    "@type": "Match",
    "schema_version": "0.2.0",
    "id": "MCH-9B3C8A12",
    "product_id": "PRD-DE-MUC-2025-DESK-F4A7B2",
    "offer_id": "OFR-2F7A6B9C",
    "from_city": "Munich",
    "to_city": "Berlin",
    "status": "proposed",
    "matched_at": "2025-06-01T12:15:00Z",
    "metadata": {},
}

TRANSFER = {
    "@context": CTX,
    "@type": "Transfer",
    "schema_version": "0.2.0",
    "id": "TRF-5D8A23F1",
    "material_id": "MAT-DE-MUC-2025-PLASTIC-B847F3",
    "match_id": "MCH-9B3C8A12",
    "status": "scheduled",
    "handoff_at": "2025-06-02T09:00:00Z",
    "received_at": "2025-06-02T18:00:00Z",
    "route": {"from_city": "Munich", "to_city": "Berlin", "mode": "rail"},
    "metadata": {"note": "x"},
    "traceability": _TRACE_FULL,
    "passport": {
        "passport_id": "PPWR-1",
        "passport_url": "https://example.com/dpp/1",
        "access_scope": "restricted",
        "visible_to": "regulator",
    },
    "waste_shipment_doc_ref": "https://example.com/diwass/1",
    "environmental_conditions": {"temperature_c": -4.5, "humidity_percent": 40},
}

MATERIAL_STATUS = {
    "@context": CTX,
    "@type": "MaterialStatusUpdate",
    "schema_version": "0.2.0",
    "id": "urn:uuid:3C9A6A0B-8C1A-4D3F-9C2C-3C1C2F9D5C2A",
    "material_id": "MAT-DE-MUC-2025-PLASTIC-B847F3",
    "status": "withdrawn",
    "updated_at": "2025-06-03T09:15:00Z",
    "reason": "fulfilled",
    "notes": "Holding until pickup is confirmed",
    "source_node": "lab-hub.loop",
    "metadata": {"ticket": "LAB-42"},
}

HANDSHAKE = {
    "@context": CTX,
    "@type": "NodeHandshake",
    "schema_version": "0.2.0",
    "node_id": "munich.loop",
    "name": "Munich",
    "endpoint": "http://munich.example:8080/api",
    "capabilities": ["material-registry"],
    "public_key": PEM,
    "timestamp": "2025-12-20T10:00:00Z",
    "signature": "sig",
}

HANDSHAKE_RESPONSE = {
    "@context": CTX,
    "@type": "NodeHandshakeResponse",
    "schema_version": "0.2.0",
    "status": "rejected",
    "peer_id": "lab-hub.loop",
    "capabilities": ["lab-relay", "x"],
    "received_at": "2025-12-20T10:00:05Z",
    "lab_only": True,
    "message": "no",
}

FEDERATE_ACCEPTED = {"status": "accepted", "id": 1}

LOOPCOIN_CONFIG = {
    "@context": CTX,
    "@type": "LoopCoinConfig",
    "schema_version": "0.2.0",
    "issuer": "munich.loop",
    "currency_code": "LC-MUC",
    "backed_by": "CHF",
    "exchange_rate": 1.0,
    "local_bonus": 0.5,
    "expiry_months": 12,
    "decay_rate": 0.2,
    "max_issuance": 1000000,
    "current_supply": 450000,
    "reserve_ratio": 1.0,
}

LOOPCOIN_TRANSFER = {
    "@context": CTX,
    "@type": "LoopCoinTransfer",
    "id": "550e8400-e29b-41d4-a716-446655440000",
    "from": "user:u-7f3a@munich.loop",
    "to": "node:fund@munich.loop",
    "amount": 0.01,
    "currency": "LC-MUC",
    "material_ref": "MAT-DE-MUC-2025-FOOD-B847F3",
    "timestamp": "2025-05-27T14:30:00Z",
    "memo": "grain",
    "signature": "sig",
}

SETTLEMENT_BATCH = {
    "@context": CTX,
    "@type": "InterNodeSettlement",
    "schema_version": "0.2.0",
    "from_node": "munich.loop",
    "to_node": "berlin.loop",
    "transfers": [
        {
            "from": "user:a@munich.loop",
            "to": "business:b@berlin.loop",
            "amount": 104,
            "from_currency": "LC-MUC",
            "to_currency": "LC-BER",
            "exchange_rate": 1.1,
            "fees": {"export_penalty": 24, "import_penalty": 12, "distance_cost": 8},
        }
    ],
    "settlement_method": "netting",
    "settlement_period": "weekly",
}

SIGNAL_CONFIG = {
    "@context": CTX,
    "@type": "LoopSignalConfig",
    "schema_version": "0.2.0",
    "node": "munich.loop",
    "signals": {
        "plastic-pet": 0.2,
        "metal-steel": 0,
        "cardboard": 1,
        "ewaste-mixed": 0.5,
        "textile-wool": 0.1,
        "default": 0.05,
    },
    "valid_from": "2025-06-01T00:00:00Z",
    "valid_until": "2025-06-30T23:59:59Z",
    "approved_by": {"vote_id": "2025-05-vote", "turnout": 0.35, "approval": 0.68},
}

SIGNAL_PROPOSAL = {
    "@context": CTX,
    "@type": "SignalProposal",
    "node": "munich.loop",
    "changes": [{"category": "plastic-pet", "current": 0.2, "proposed": 0.3, "reason": "more"}],
    "voting_opens": "2025-06-01T00:00:00Z",
    "voting_closes": "2025-06-07T23:59:59Z",
}

TRANSACTION_STATUS = {
    "@context": CTX,
    "@type": "TransactionStatus",
    "schema_version": "0.2.0",
    "transaction_id": "TXN-2025-05-27-002",
    "status": "in_transit",
    "updated_at": "2025-05-27T11:00:00Z",
    "details": {
        "location": {"lat": 1000, "lon": -1000},
        "estimated_arrival": "2025-05-28T11:00:00Z",
        "notes": "On the road",
    },
    "settlement_url": "not even a uri",
}

SETTLEMENT = {
    "@context": CTX,
    "@type": "Settlement",
    "transaction_id": "TXN-2025-05-27-002",
    "material": "MAT-DE-MUC-2025-FOOD-B847F3",
    "seller": "munich.loop",
    "buyer": "vienna.loop",
    "final_cost": 104,
    "distribution": {
        "seller_receives": 60,
        "seller_community_fund": 24,
        "buyer_community_fund": 12,
        "transport_cost": 8,
    },
    "settled_at": "2025-05-27T11:00:00Z",
    "confirmation": {"material_transferred": True, "payment_completed": False, "signatures": ["a"]},
}

NODE_INFO = {
    "@context": CTX,
    "@type": "NodeInfo",
    "schema_version": "0.2.0",
    "id": "munich.loop",
    "name": "Munich LOOP Node",
    "version": "0.2.0",
    "location": {"lat": 48.1351, "lon": 11.582, "city": "Munich", "country": "DE"},
    "capabilities": ["material-registry", "loopcoin", "graphql"],
    "endpoint": "https://munich.loop/api/v1",
    "public_key": PEM,
    "statistics": {
        "materials_active": 1,
        "transactions_daily": 2,
        "transactions_total": 3,
        "loopcoin_supply": 4,
        "users_active": 5,
        "businesses_registered": 6,
    },
    "contact": {
        "email": "ops@munich.example",
        "phone": "+49 89 0",
        "website": "https://munich.example",
    },
    "metadata": {
        "operator": "City of Munich",
        "established": "2024-02-29",
        "population_served": 1500000,
        "languages": ["de", "en"],
    },
}

NODE_REGISTRY = {
    "@context": CTX,
    "@type": "NodeRegistry",
    "version": "2025-05-27",
    "nodes": [
        {
            "id": "munich.loop",
            "endpoint": "https://munich.loop/api/v1",
            "public_key": "k",
            "location": {"lat": 481, "lon": 11},
            "status": "maintenance",
            "last_seen": "2025-05-27T15:00:00Z",
            "capabilities": ["anything"],
        }
    ],
}

NODE_STATUS = {
    "@context": CTX,
    "@type": "NodeStatus",
    "schema_version": "0.2.0",
    "node": "munich.loop",
    "status": "degraded",
    "timestamp": "2025-05-27T15:00:00Z",
    "health": {
        "api_response_time_ms": 12.5,
        "database_status": "healthy",
        "disk_usage_percent": 100,
        "memory_usage_percent": 0,
    },
    "peers": [{"node": "berlin.loop", "latency_ms": 40, "last_contact": "2025-05-27T14:59:00Z"}],
}

ANNOUNCEMENT = {
    "@context": CTX,
    "@type": "MaterialAnnouncement",
    "material": "MAT-DE-MUC-2025-PLASTIC-B847F3",
    "origin": "munich.loop",
    "available": True,
    "category": "plastic-pet",
    "quantity": 500,
    "ttl": 3,
}

MATERIAL_OFFER = {
    "@context": CTX,
    "@type": "MaterialOffer",
    "material": "MAT-DE-MUC-2025-PLASTIC-B847F3",
    "from": "munich.loop",
    "base_price": 120,
    "loop_cost": 156.5,
    "valid_until": "2025-06-05T10:00:00Z",
}
