"""Fixtures for the core-dp tests: the official vectors and trust store, and our own keys.

The official material comes from the LOOP reference folder (`reference` fixture, which skips
with a message when the folder is absent); our own key pairs are deterministic.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.protocol import keys
from loopnode.protocol.coredp.envelope import NodeRef, build_envelope, sign_envelope
from loopnode.protocol.trust import KeyRecord, TrustStore, load_trust_store

CREATED = datetime(2026, 7, 17, 0, 0, 0, tzinfo=UTC)
MUNICH_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
BERLIN_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
MUNICH = NodeRef("munich.loop", "https://munich.loop/api/v1", "key_munich_test_0001")
BERLIN = NodeRef("berlin.loop", "https://berlin.loop/api/v1", "key_berlin_test_0001")


@pytest.fixture(scope="session")
def official_vectors(reference: Path) -> dict[str, dict[str, Any]]:
    path = reference / "profiles/core-dp/conformance/vectors/core-dp-vectors.json"
    return {v["id"]: v for v in json.loads(path.read_text(encoding="utf-8"))["vectors"]}


@pytest.fixture(scope="session")
def official_trust(reference: Path) -> TrustStore:
    return load_trust_store(
        reference / "profiles/core-dp/conformance/trust/accepted-peer-keys.json"
    )


@pytest.fixture
def vector_payload(official_vectors: dict[str, dict[str, Any]]) -> Callable[[str], Any]:
    return lambda vector_id: copy.deepcopy(official_vectors[vector_id]["payload"])


def our_trust(**munich_fields: Any) -> TrustStore:
    fields: dict[str, Any] = {
        "valid_from": CREATED - timedelta(days=30),
        "valid_until": CREATED + timedelta(days=300),
    }
    fields.update(munich_fields)
    return TrustStore.of(
        [
            KeyRecord("munich.loop", MUNICH.key_id, keys.public_raw(MUNICH_KEY), **fields),
            KeyRecord("berlin.loop", BERLIN.key_id, keys.public_raw(BERLIN_KEY)),
        ]
    )


def offer_publish_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "conversation_id": "conv_offerPublish000001",
        "message_type": "offer.publish",
        "origin_node": "munich.loop",
        "counterparty_node": "berlin.loop",
        "authoritative_role": "origin",
        "subject": {"type": "offer", "id": "OFF-DE-MUC-2026-000001"},
        "state": "offer-published",
        "terminal": False,
        "attempt": 1,
        "timeout_at": "2026-07-17T00:05:00Z",
    }
    body.update(changes)
    return body


def signed_offer_publish(
    body: dict[str, Any] | None = None,
    *,
    created_at: datetime = CREATED,
    expires_in_s: int = 300,
    key: Ed25519PrivateKey = MUNICH_KEY,
) -> dict[str, Any]:
    envelope = build_envelope(
        message_type="offer.publish",
        sender=MUNICH,
        receiver=BERLIN,
        body=body or offer_publish_body(),
        message_id="msg_offerPublish000000001",
        idempotency_key="idem_offerPublish00000001",
        created_at=created_at,
        expires_in_s=expires_in_s,
    )
    return sign_envelope(envelope, key)
