"""The passport resolver: one passport as a person or a machine reads it (issue 13 item 6).

`view` gathers what the resolver page shows: the passport (restricted fields removed unless
the caller may see them), the materials it is made of, its custody and status history, the
issuing node, its credential and whether that credential verifies against the node's own DID
document. The ids of materials and products never overlap (`MAT-` / `PRD-`), so `/dpp/{id}`
needs no kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopnode.domain.errors import NotFound
from loopnode.protocol.dpp_access import restrict
from loopnode.protocol.vc import CRYPTOSUITE
from loopnode.services.dpp.credentials import CredentialService
from loopnode.services.federation.keys import KeyUnavailable
from loopnode.services.lifecycle.service import LifecycleService
from loopnode.services.registry.identity import NodeIdentity
from loopnode.services.registry.service import RegistryService

__all__ = ["DppService", "PassportView", "kind_of"]


@dataclass(frozen=True, slots=True)
class PassportView:
    kind: str
    record_id: str
    document: dict[str, Any]
    hidden: list[str]
    full_access: bool
    resolver_url: str
    credential_url: str
    events_url: str
    composition: list[dict[str, Any]]
    history: dict[str, Any]
    issuer: dict[str, str]
    verification: dict[str, Any]


def kind_of(record_id: str) -> str | None:
    if record_id.startswith("MAT-"):
        return "material"
    if record_id.startswith("PRD-"):
        return "product"
    return None


class DppService:
    def __init__(
        self,
        registry: RegistryService,
        lifecycle: LifecycleService,
        credentials: CredentialService,
        node: NodeIdentity,
        *,
        base_url: str,
    ) -> None:
        self._registry = registry
        self._lifecycle = lifecycle
        self._credentials = credentials
        self._node = node
        self._base = base_url.rstrip("/")

    def resolver_url(self, record_id: str) -> str:
        """The URL a QR code carries; NotFound unless the passport is stored here."""
        row = self._registry.get(self._kind(record_id), record_id)
        return f"{self._base}/dpp/{row.id}"

    def links(self, record_id: str) -> dict[str, str]:
        """Where a machine finds the passport's credential and its EPCIS trace."""
        kind = self._kind(record_id)
        return {
            "credential": f"{self._base}/api/v1/{kind}/{record_id}/credential",
            "events": f"{self._base}/api/v1/epcis/events?subject={record_id}",
        }

    def document(self, record_id: str, *, full_access: bool) -> dict[str, Any]:
        """The passport as JSON-LD: whole for authorised callers, else its public view."""
        row = self._registry.get(self._kind(record_id), record_id)
        return dict(row.document) if full_access else restrict(row.document)[0]

    def view(self, record_id: str, *, full_access: bool) -> PassportView:
        kind = self._kind(record_id)
        row = self._registry.get(kind, record_id)
        document, hidden = (dict(row.document), []) if full_access else restrict(row.document)
        verification = self._verification(kind, record_id)
        return PassportView(
            kind=kind,
            record_id=row.id,
            document=document,
            hidden=hidden,
            full_access=full_access,
            resolver_url=f"{self._base}/dpp/{row.id}",
            credential_url=f"{self._base}/api/v1/{kind}/{row.id}/credential",
            events_url=f"{self._base}/api/v1/epcis/events?subject={row.id}",
            composition=self._composition(row.document),
            history=self._lifecycle.history(kind, record_id),
            issuer={
                "node_id": self._node.node_id,
                "name": self._node.name,
                "did": self._credentials.did,
            },
            verification=verification,
        )

    def _verification(self, kind: str, record_id: str) -> dict[str, Any]:
        """Sign the credential now and verify it against the node's own DID document."""
        try:
            credential = self._credentials.credential(kind, record_id)
        except KeyUnavailable as exc:  # a node without `loopnode init` still shows the page
            return {"verified": False, "cryptosuite": CRYPTOSUITE, "reason": exc.message}
        verdict = self._credentials.verify(credential)
        return {**verdict.as_dict(), "proof_created": credential["proof"]["created"]}

    def _composition(self, document: dict[str, Any]) -> list[dict[str, Any]]:
        ids = document.get("material_ids")
        out = []
        for material_id in ids if isinstance(ids, list) else []:
            if not isinstance(material_id, str):
                continue
            try:
                row = self._registry.get("material", material_id)
            except NotFound:
                out.append({"id": material_id, "url": None, "category": None})
                continue
            out.append(
                {"id": row.id, "url": f"{self._base}/dpp/{row.id}", "category": row.category}
            )
        return out

    @staticmethod
    def _kind(record_id: str) -> str:
        kind = kind_of(record_id)
        if kind is None:
            raise NotFound("no passport has this id", {"searched_id": record_id[:200]})
        return kind
