"""Verifiable passports: sign a stored passport as a VC 2.0 and publish the node's DID document.

The credential is signed on every request with the node's current key (`created` is now), so a
rotated key shows up immediately; earlier credentials keep verifying while their key is in the
DID document (rotated keys stay, revoked keys go; see `protocol.vc_did`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.domain.times import format_timestamp, from_us
from loopnode.protocol import multikey, vc, vc_did
from loopnode.protocol.vc_passport import passport_credential
from loopnode.services.federation.ports import NodeKeyRow
from loopnode.services.ports import Clock
from loopnode.services.registry.service import RegistryService

__all__ = ["CredentialService", "assertion_keys"]


class CredentialService:
    def __init__(
        self,
        registry: RegistryService,
        clock: Clock,
        *,
        base_url: str,
        node_name: str,
        signing_key: Callable[[], Ed25519PrivateKey],
        public_keys: Callable[[], Iterable[bytes]],
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._base_url = base_url.rstrip("/")
        self._node_name = node_name
        self._signing_key = signing_key
        self._public_keys = public_keys
        self.did = vc_did.did_web(base_url)

    def credential(self, kind: str, record_id: str) -> dict[str, Any]:
        """The signed credential of a stored passport; NotFound when there is none."""
        row = self._registry.get(kind, record_id)
        unsigned = passport_credential(
            kind,
            row.document,
            credential_id=f"{self._base_url}/api/v1/{kind}/{row.id}/credential",
            issuer_did=self.did,
            issuer_name=self._node_name,
            valid_from=format_timestamp(from_us(row.created_us).replace(microsecond=0)),
        )
        key = self._signing_key()
        method = vc_did.method_id(self.did, multikey.public_key_multibase(key))
        created = format_timestamp(self._clock.now().replace(microsecond=0))
        return vc.add_proof(unsigned, key, verification_method=method, created=created)

    def did_document(self) -> dict[str, Any]:
        return vc_did.did_document(self.did, self._public_keys())

    def verify(self, secured: object) -> vc.Verification:
        """Verify against this node's own DID document (for the resolver page)."""
        return vc.verify_proof(secured, vc_did.resolver_from_document(self.did_document()))


def assertion_keys(rows: Iterable[NodeKeyRow]) -> list[bytes]:
    """The keys a DID document lists: the active one first, then rotated ones, never revoked."""
    usable = [row for row in rows if row.status != "revoked"]
    usable.sort(key=lambda row: (row.status != "active", -row.valid_from_us))
    return [row.public_key for row in usable]
