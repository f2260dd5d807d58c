"""Core-dp DNA operations and searches answered by this node (SPEC-DIGEST §1.14, §4.7, §4.8).

- `*.register` (register_request, a MaterialDNA/ProductDNA record): the record is stored as a
  relayed passport (`source_node` = the sender), validated like a local one and screened for
  personal data (DECISIONS 5). Registering the same record again is `registered`; a changed
  record replaces ours only when the sender is the node it came from, otherwise `conflict`.
  This is how an origin gives the counterparty the passport its offer is about.
- `*.read` (read_request): `found` with the record and its provenance, or `not_found`.
- `*.search` (a search-contract request): the node's core-dp search (`SearchService`).
Every answer is a message of the same type, authored by this node; result errors are core-dp
error objects correlated to the request's envelope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from loopnode.domain.errors import LoopError, ValidationFailed
from loopnode.domain.privacy import find_personal_data
from loopnode.domain.times import format_timestamp, from_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.coredp.envelope import new_idempotency_key, new_message_id
from loopnode.protocol.coredp.errors import ErrorCode, error_body
from loopnode.protocol.validation import validate_entity
from loopnode.services.coredp.messages import CoreDpRefusal
from loopnode.services.coredp.steps import Authored, Inbound
from loopnode.services.ports import EvidenceDraft, RecordRow, UnitOfWork
from loopnode.services.registry.service import KIND_TYPES, RegistryService

__all__ = ["DnaOperations"]

Search = Callable[[str, dict[str, Any]], dict[str, Any]]


class DnaOperations:
    def __init__(self, node_id: str, search: Search | None = None) -> None:
        self._me = node_id
        self._search = search

    def answer(self, uow: UnitOfWork, now: datetime, inbound: Inbound) -> Authored:
        message_type, body = inbound.message_type, inbound.body
        if message_type.endswith(".search"):
            return self._authored(message_type, self._searched(message_type, body))
        operation = body["operation"]
        if operation == "register_request":
            result = self._register(uow, now, inbound)
        elif operation == "read_request":
            result = self._read(uow, now, inbound)
        else:
            raise CoreDpRefusal(
                "invalid_request", f"{operation} is an answer; send a request operation"
            )
        return self._authored(message_type, result)

    # -- register ---------------------------------------------------------------------------------
    def _register(self, uow: UnitOfWork, now: datetime, inbound: Inbound) -> dict[str, Any]:
        body = inbound.body
        kind, record = body["entity_type"], body["record"]
        answer = _result_body(body, "register_result", record["id"])
        problem = _invalid(kind, record)
        if problem is not None:
            return self._failed(answer, "invalid", "invalid_request", problem, now, inbound)
        existing = uow.records.get(kind, record["id"])
        digest = sha256_hex(record)
        if existing is not None and existing.record_hash == digest:
            answer["result"] = self._provenance("registered", existing, inbound)
            return answer
        if existing is not None and existing.source_node != inbound.sender:
            held = f"{record['id']} is held here from {existing.source_node}"
            return self._failed(answer, "conflict", "conflict", held, now, inbound)
        row = RegistryService.build_row(kind, record, now, source_node=inbound.sender)
        try:
            with uow.coredp.savepoint():
                stored = self._store(uow, row, existing)
        except LoopError as exc:
            return self._failed(answer, "conflict", "conflict", exc.message, now, inbound)
        draft = EvidenceDraft(f"{kind}.registered", kind, row.id, inbound.sender, row.record_hash)
        uow.evidence.append(draft, now)
        answer["result"] = self._provenance("registered", stored, inbound)
        return answer

    @staticmethod
    def _store(uow: UnitOfWork, row: RecordRow, existing: RecordRow | None) -> RecordRow:
        if existing is None:
            uow.records.insert(row)
            return row
        kept = replace(
            row,
            created_us=existing.created_us,
            availability=existing.availability,
            offered_micro=existing.offered_micro,
            parent_id=existing.parent_id,
        )
        uow.subjects.lock(row.id)
        uow.subjects.rewrite(kept)
        return kept

    # -- read -------------------------------------------------------------------------------------
    def _read(self, uow: UnitOfWork, now: datetime, inbound: Inbound) -> dict[str, Any]:
        body = inbound.body
        kind, record_id = body["entity_type"], body["record_id"]
        answer = _result_body(body, "read_result", record_id)
        row = uow.records.get(kind, record_id)
        if row is None:
            missing = f"{KIND_TYPES[kind]} {record_id} is not on this node"
            return self._failed(answer, "not_found", "not_found", missing, now, inbound)
        answer["record"] = row.document
        answer["result"] = self._provenance("found", row, inbound)
        draft = EvidenceDraft(f"{kind}.read", kind, row.id, inbound.sender, row.record_hash)
        uow.evidence.append(draft, now)
        return answer

    def _provenance(self, status: str, row: RecordRow, inbound: Inbound) -> dict[str, Any]:
        return {
            "status": status,
            "provenance": {
                "source_node": row.source_node,
                "record_hash_sha256": row.record_hash,
                "recorded_at": format_timestamp(from_us(row.updated_us)),
                "envelope_message_id": inbound.message_id,
            },
        }

    def _failed(
        self,
        answer: dict[str, Any],
        status: str,
        code: ErrorCode,
        message: str,
        now: datetime,
        inbound: Inbound,
    ) -> dict[str, Any]:
        """A result without a record: provenance names this node and the request's hash."""
        answer["result"] = {
            "status": status,
            "provenance": {
                "source_node": self._me,
                "record_hash_sha256": sha256_hex(inbound.body),
                "recorded_at": format_timestamp(now),
                "envelope_message_id": inbound.message_id,
            },
            "errors": [error_body(code, message, inbound.message_id)],
        }
        return answer

    # -- search -----------------------------------------------------------------------------------
    def _searched(self, message_type: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._search is None:
            raise CoreDpRefusal("invalid_request", "this node answers no core-dp searches")
        if "results" in body:
            raise CoreDpRefusal("invalid_request", "a search response is an answer, not a request")
        try:
            return self._search(message_type.split(".", 1)[0], body)
        except LoopError as exc:
            raise CoreDpRefusal("invalid_request", exc.message, exc.details) from exc

    @staticmethod
    def _authored(message_type: str, body: dict[str, Any]) -> Authored:
        return Authored(message_type, body, new_message_id(), new_idempotency_key())


def _invalid(kind: str, record: dict[str, Any]) -> str | None:
    try:
        validate_entity(record, KIND_TYPES[kind])
    except LoopError as exc:
        return exc.message
    personal = find_personal_data(record)
    if personal:
        return ValidationFailed(personal, "personal data is not allowed in LOOP payloads").message
    return None


def _result_body(request: dict[str, Any], operation: str, record_id: str) -> dict[str, Any]:
    return {
        "message_type": request["message_type"],
        "operation": operation,
        "entity_type": request["entity_type"],
        "request_id": request["request_id"],
        "record_id": record_id,
    }
