"""Key notices: building, parsing, and the checks that need no trust store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.domain.errors import ValidationFailed
from loopnode.protocol import keys
from loopnode.services.federation import notices

OLD = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
NEW = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
NOW = datetime(2026, 7, 1, tzinfo=UTC)


def rotation() -> dict[str, object]:
    return notices.build(
        notice_id="kn_0001",
        node_id="munich.loop",
        action="rotated",
        key=keys.public_raw(OLD),
        effective_at=NOW,
        signer=OLD,
        new_key=NEW,
    )


def test_a_rotation_is_signed_by_the_old_and_the_new_key() -> None:
    notice = rotation()
    parsed = notices.parse(notice)
    data = notices.signing_input(notice)
    assert keys.verify(keys.public_raw(OLD), data, parsed.signature)
    assert parsed.new_key_signature is not None
    assert keys.verify(keys.public_raw(NEW), data, parsed.new_key_signature)
    assert parsed.new_key_id == keys.key_id(keys.public_raw(NEW), "munich.loop")
    assert parsed.effective_at == NOW


def test_signatures_cover_every_field_but_themselves() -> None:
    notice = rotation()
    notice["effective_at"] = "2030-01-01T00:00:00Z"
    parsed = notices.parse(notice)
    assert not keys.verify(keys.public_raw(OLD), notices.signing_input(notice), parsed.signature)


@pytest.mark.parametrize(
    ("field", "value", "pointer"),
    [
        ("action", "renamed", "/action"),
        ("key_id", "key_someone_else_0001", "/key_id"),
        ("public_key", "not a key", "/public_key"),
        ("effective_at", "soon", "/effective_at"),
        ("new_key_id", "key_munich.loop_0000000000000000", "/new_key_id"),
        ("@type", "Notice", "/@type"),
    ],
)
def test_malformed_notices_are_400_with_a_pointer(field: str, value: str, pointer: str) -> None:
    notice = rotation()
    notice[field] = value
    with pytest.raises(ValidationFailed) as caught:
        notices.parse(notice)
    assert pointer in {issue.pointer for issue in caught.value.issues}


def test_a_revocation_needs_no_successor() -> None:
    notice = notices.build(
        notice_id="kn_0002",
        node_id="munich.loop",
        action="revoked",
        key=keys.public_raw(OLD),
        effective_at=NOW,
        signer=OLD,
    )
    parsed = notices.parse(notice)
    assert parsed.action == "revoked" and parsed.new_key_id is None
