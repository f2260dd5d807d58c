"""MaterialDNA and ProductDNA registries (spec §3.2, §4, §4.5, §8.1).

Registration validates the passport against the protocol's schema rules, refuses personal data
(§3.5, DECISIONS 5), mints an id when the client sent none (DECISIONS 2), stores the record as
received (unknown fields kept) with its indexed projections, and appends a `registered` evidence
entry in the same transaction (DECISIONS 22).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from loopnode.domain import geo, ids
from loopnode.domain.errors import InvalidRequest, Issue, NotFound, ValidationFailed
from loopnode.domain.privacy import find_personal_data
from loopnode.domain.quantities import quantity_from_json, require_storable, to_base
from loopnode.domain.times import TimestampError, parse_timestamp, to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.profiles import Finding, lint
from loopnode.protocol.validation import validate_entity
from loopnode.services.group_commit import GroupCommit, defer_record
from loopnode.services.ports import (
    Clock,
    DocumentRead,
    EvidenceDraft,
    RecordRow,
    UnitOfWork,
    UnitOfWorkFactory,
)
from loopnode.services.registry.identity import NodeIdentity
from loopnode.services.results import Change, Created

KIND_TYPES = {"material": "MaterialDNA", "product": "ProductDNA"}
MICRO = Decimal(1_000_000)
MAX_MICRO = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Registered:
    row: RecordRow
    findings: list[Finding] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        """The stored record plus `"status": "registered"` (DECISIONS 6), and the regulatory
        profiles' findings (warnings, never rejections) under `profile_findings` when any."""
        answer = {**self.row.document, "status": "registered"}
        if self.findings:
            answer["profile_findings"] = [finding.as_dict() for finding in self.findings]
        return answer


class RegistryService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        node: NodeIdentity,
        random_hex: Callable[[int], str],
        writes: GroupCommit | None = None,
        read_document: DocumentRead | None = None,
    ) -> None:
        self._uow = uow
        self._read_document = read_document
        self._clock = clock
        self._node = node
        self._random_hex = random_hex
        # Concurrent registrations share transactions when given (services/group_commit.py).
        self._writes = writes

    @property
    def node(self) -> NodeIdentity:
        return self._node

    def register(self, kind: str, payload: dict[str, Any], actor: str) -> Registered:
        now = self._clock.now()
        row = self._prepare(kind, payload, now)
        if self._writes is None:
            with self._uow(write=True) as uow:
                return self._store(uow, kind, row, actor, now)
        draft = EvidenceDraft(f"{kind}.registered", kind, row.id, actor, row.record_hash)

        def store(uow: Any) -> tuple[None, list[EvidenceDraft]]:
            if kind == "product":
                self._check_materials_known(uow, row.document)
            if not defer_record(uow, row):  # else the batch inserts it with its neighbours
                uow.records.insert(row)
            return None, [draft]

        self._writes.run(store)  # shares a transaction with concurrent registrations
        return Registered(row, lint(row.document))

    def registration(self, kind: str, payload: dict[str, Any], actor: str) -> Change[Created]:
        """The registration as one change for `IdempotencyService.run`: the record, its evidence
        and the stored response commit together, so no crash can leave a key claimed for a
        record that exists (a retry would register a minted id twice; issue 15)."""

        def change(uow: UnitOfWork, now: datetime) -> Created:
            row = self._prepare(kind, payload, now)
            registered = self._store(uow, kind, row, actor, now)
            return Created(registered.response(), f"/api/v1/{kind}/{row.id}")

        return change

    def _prepare(self, kind: str, payload: dict[str, Any], now: datetime) -> RecordRow:
        document = dict(payload)
        if "id" not in document:
            document["id"] = self._mint(kind, document, now)
        validate_entity(document, KIND_TYPES[kind])
        personal = find_personal_data(document)
        if personal:
            raise ValidationFailed(personal, "personal data is not allowed in LOOP payloads")
        if kind == "product" and not ids.is_local_product_id(document["id"]):
            raise ValidationFailed(
                [
                    Issue(
                        "/id",
                        "a product registered here must use the PRD-CC-CIT-YYYY-CAT-XXXXXX form",
                    )
                ]
            )
        return self.build_row(kind, document, now, source_node=self._node.node_id)

    def _store(
        self, uow: UnitOfWork, kind: str, row: RecordRow, actor: str, now: datetime
    ) -> Registered:
        if kind == "product":
            self._check_materials_known(uow, row.document)
        uow.records.insert(row)
        uow.evidence.append(
            EvidenceDraft(f"{kind}.registered", kind, row.id, actor, row.record_hash), now
        )
        return Registered(row, lint(row.document))

    def get(self, kind: str, record_id: str) -> RecordRow:
        with self._uow() as uow:
            row = uow.records.get(kind, record_id)
        if row is None:
            raise NotFound(
                f"{KIND_TYPES[kind]} {record_id} not found on this node",
                {"searched_id": record_id},
            )
        return row

    def document_json(self, kind: str, record_id: str) -> bytes:
        """`get(kind, record_id).document` as JSON bytes, straight from storage (the GET route's
        fast path: no parse and re-serialise)."""
        if self._read_document is not None:
            found = self._read_document(kind, record_id)
        else:
            with self._uow(read_only=True) as uow:
                found = uow.records.document_json(kind, record_id)
        if found is None:
            raise NotFound(
                f"{KIND_TYPES[kind]} {record_id} not found on this node",
                {"searched_id": record_id},
            )
        return found

    def _mint(self, kind: str, document: dict[str, Any], now: datetime) -> str:
        field = "category" if kind == "material" else "product_category"
        category = document.get(field)
        category = category if isinstance(category, str) and category else "UNKNOWN"
        mint = ids.mint_material_id if kind == "material" else ids.mint_product_id
        return mint(
            self._node.country, self._node.city_code, now.year, category, self._random_hex(10)
        )

    @staticmethod
    def _check_materials_known(uow: Any, document: dict[str, Any]) -> None:
        wanted = list(dict.fromkeys(document.get("material_ids") or []))
        missing = [m for m in wanted if m not in uow.records.existing_ids("material", wanted)]
        if missing:
            raise InvalidRequest(
                "material_ids name MaterialDNA records this node does not know",
                {"unknown_material_ids": missing},
            )

    @staticmethod
    def build_row(
        kind: str, document: dict[str, Any], now: datetime, *, source_node: str
    ) -> RecordRow:
        """The indexed projections of a valid passport."""
        now_us = to_us(now)
        location = document.get("location") or {}
        lat, lon = location.get("lat"), location.get("lon")
        quantity = document["quantity"]
        return RecordRow(
            id=document["id"],
            kind=kind,
            category=document["category" if kind == "material" else "product_category"],
            condition=document.get("condition") if kind == "product" else None,
            origin_city=document["origin_city"],
            current_city=document["current_city"],
            lat=float(lat) if lat is not None else None,
            lon=float(lon) if lon is not None else None,
            unit_vector=geo.unit_vector(lat, lon) if lat is not None and lon is not None else None,
            quantity_unit=quantity["unit"],
            quantity_micro=quantity_micro(quantity["value"], quantity["unit"]),
            available_from_us=_timestamp_us(document, "available_from"),
            expires_us=_timestamp_us(document, "expires") if "expires" in document else None,
            source_node=source_node,
            document=document,
            record_hash=sha256_hex(document),
            created_us=now_us,
            updated_us=now_us,
        )


def quantity_micro(value: float | int, unit: str) -> int:
    """Integer millionths of the unit's base (kg, l, piece, bundle), exactly."""
    quantity = quantity_from_json({"value": value, "unit": unit})
    require_storable(quantity)
    base = to_base(quantity)
    micro = int(base.value * MICRO)
    if micro > MAX_MICRO:
        raise ValidationFailed([Issue("/quantity/value", "quantity is too large for this node")])
    return micro


def _timestamp_us(document: dict[str, Any], field: str) -> int:
    try:
        return to_us(parse_timestamp(document[field]))
    except TimestampError as exc:
        raise ValidationFailed([Issue(f"/{field}", str(exc))]) from exc
