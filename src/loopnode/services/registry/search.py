"""Listing and searching passports (spec §8.1 search, core-dp search contract; DECISIONS 26).

Two request shapes arrive at `POST /{material|product}/search`:
- protocol mode, the openapi `MaterialSearchRequest` (`category` with a `*` suffix wildcard,
  `radius_km` around this node's own location, `min_quantity` in the record's base unit: kg, l,
  piece or bundle; `max_loop_cost` keeps the records whose LoopCost to this node is at most
  that amount, see `docs/routing.md`);
- core-dp mode, the `search-contract` searchRequest (selected by `limit` or `entity_type`), with
  its filters, `updated_at_asc,id_asc` ordering, limit ≤ 100 and cursors bound to the filters.
Both page by keyset on (updated_at, id), so pages stay stable while records are added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from loopnode.domain import geo
from loopnode.domain.errors import InvalidRequest, Issue, LoopError, ValidationFailed
from loopnode.domain.money import Money
from loopnode.domain.times import TimestampError, format_timestamp, from_us, parse_timestamp, to_us
from loopnode.protocol.search_request import check_search_request
from loopnode.services.ports import (
    Clock,
    PeerSearch,
    RecordQuery,
    RecordRow,
    StoredDocument,
    UnitOfWorkFactory,
)
from loopnode.services.registry import cursors
from loopnode.services.registry.identity import NodeIdentity

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
PROTOCOL_FIELDS = frozenset({"category", "radius_km", "min_quantity", "max_loop_cost"})
CORE_DP_FIELDS = frozenset(
    {
        "entity_type",
        "scope",
        "filters",
        "auth",
        "limit",
        "strict_filtering",
        "cursor",
        "consistency",
    }
)
CORE_DP_FILTERS = frozenset(
    {
        "category_prefix",
        "id_prefix",
        "origin_city",
        "current_city",
        "available_from_gte",
        "available_from_lt",
        "quantity_min",
        "condition",
        "updated_since",
    }
)
MAX_COST_SCAN = 100_000
# Makes a function giving the LoopCost of bringing a record to this node, or None when the
# record has no price (services/routing/cost.py); one per search, so it may cache signals.
RecordCost = Callable[[], Callable[[RecordRow], Money | None]]
LIST_FILTERS = ("category", "origin_city", "current_city", "availability", "source_node")


def is_core_dp_request(body: dict[str, Any]) -> bool:
    return "limit" in body or "entity_type" in body


class SearchService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        node: NodeIdentity,
        peer_search: PeerSearch | None = None,
        record_cost: RecordCost | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._node = node
        self._peer_search = peer_search
        self._record_cost = record_cost

    # -- GET /{kind}: plain listing ---------------------------------------------------------
    def list_records(
        self, kind: str, params: dict[str, str], cursor: str | None, limit: int | None
    ) -> dict[str, Any]:
        unknown = sorted(set(params) - {*LIST_FILTERS, "updated_since"})
        if unknown:
            raise InvalidRequest(
                f"unknown filter(s): {', '.join(unknown)}", {"allowed": LIST_FILTERS}
            )
        size = _limit(limit)
        query = RecordQuery(
            kind=kind,
            limit=size + 1,
            category=params.get("category"),
            origin_city=params.get("origin_city"),
            current_city=params.get("current_city"),
            availability=params.get("availability"),
            source_node=params.get("source_node"),
        )
        if "updated_since" in params:
            query = replace(query, updated_since_us=_us(params["updated_since"], "/updated_since"))
        bound = cursors.binding("list", kind, sorted(params.items()))
        query = self._resume(query, cursor, bound)
        rows = self._fetch(query)
        page, more = rows[:size], len(rows) > size
        return {
            "results": [row.document for row in page],
            "next_cursor": self._next(page, bound) if more else None,
        }

    # -- protocol mode ------------------------------------------------------------------------
    def protocol_search(
        self, kind: str, body: dict[str, Any], cursor: str | None, path: str
    ) -> dict[str, Any]:
        _check_protocol_body(body)
        query = RecordQuery(kind=kind, limit=DEFAULT_LIMIT + 1, exclude_withdrawn=True)
        category = body.get("category")
        if category is not None and category != "*":
            if category.endswith("*"):
                query = replace(query, category_prefix=category[:-1])
            elif "*" in category:
                raise ValidationFailed(
                    [Issue("/category", "'*' is only allowed as the last character")]
                )
            else:
                query = replace(query, category=category)
        if "min_quantity" in body:
            query = replace(query, min_quantity_micro=_micro(body["min_quantity"], "/min_quantity"))
        if "radius_km" in body:
            query = self._near(query, body["radius_km"])
        bound = cursors.binding("protocol", kind, body)
        count_query = query
        query = self._resume(query, cursor, bound)
        page: list[Any]
        results: list[Any]
        if "max_loop_cost" in body:
            rows, total = self._within_cost(query, count_query, body["max_loop_cost"])
            page, more = rows[:DEFAULT_LIMIT], len(rows) > DEFAULT_LIMIT
            results = [row.document for row in page]
        else:
            with self._uow(read_only=True) as uow:
                stored = uow.records.page_documents(query)
                total = uow.records.count(count_query)
            page, more = stored[:DEFAULT_LIMIT], len(stored) > DEFAULT_LIMIT
            # The stored text goes into the answer as it is: the answer's JSON renderer embeds
            # it instead of this service parsing 50 documents for it to serialise again.
            results = [orjson.Fragment(entry.document_json) for entry in page]
        response: dict[str, Any] = {"results": results, "total": total}
        if more:
            response["next"] = f"{path}?cursor={self._next(page, bound)}"
        return response

    def _within_cost(
        self, query: RecordQuery, count_query: RecordQuery, limit: Any
    ) -> tuple[list[RecordRow], int]:
        """Rows (one page plus one) and total among records whose LoopCost is at most `limit`."""
        if self._record_cost is None:
            raise InvalidRequest("max_loop_cost is not available on this node")
        try:
            ceiling = Money.of(Decimal(repr(limit)))
        except LoopError as exc:
            raise ValidationFailed([Issue("/max_loop_cost", "must be a finite number")]) from exc
        cost = self._record_cost()
        page = self._scan(query, lambda row: _at_most(cost(row), ceiling), DEFAULT_LIMIT + 1)
        total = len(self._scan(count_query, lambda row: _at_most(cost(row), ceiling), None))
        return page, total

    def _scan(
        self, query: RecordQuery, keep: Callable[[RecordRow], bool], wanted: int | None
    ) -> list[RecordRow]:
        kept: list[RecordRow] = []
        scanned = 0
        query = replace(query, limit=500)
        while scanned < MAX_COST_SCAN:
            batch = self._fetch(query)
            kept.extend(row for row in batch if keep(row))
            scanned += len(batch)
            if len(batch) < query.limit or (wanted is not None and len(kept) >= wanted):
                break
            query = replace(query, after=(batch[-1].updated_us, batch[-1].id))
        return kept if wanted is None else kept[:wanted]

    def _near(self, query: RecordQuery, radius_km: Any) -> RecordQuery:
        radius = float(radius_km)
        if radius < 0:
            raise ValidationFailed([Issue("/radius_km", "must be >= 0")])
        box = geo.bounding_box(self._node.lat, self._node.lon, radius)
        return replace(
            query,
            near=geo.unit_vector(self._node.lat, self._node.lon),
            near_min_dot=geo.chord_threshold(radius),
            near_lat_bounds=(box.min_lat, box.max_lat),
        )

    # -- core-dp mode -------------------------------------------------------------------------
    def core_dp_search(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        request = _check_core_dp_body(kind, body)
        if request.get("scope") == "cross-node":
            return self._cross_node(kind, request)
        filters: dict[str, Any] = request.get("filters", {})
        mode = request.get("consistency", "snapshot")
        size = int(request["limit"])  # JSON Schema counts 1.0 as an integer; slices do not
        query = _core_dp_query(kind, filters, request.get("strict_filtering", False), size + 1)
        bound = cursors.binding("core-dp", kind, filters, mode, "updated_at_asc,id_asc")
        snapshot_us: int | None = None
        if "cursor" in request:
            position = cursors.decode(request["cursor"], bound)
            query = replace(query, after=(position.updated_us, position.record_id))
            snapshot_us = position.snapshot_us
        now = self._clock.now()
        if mode == "snapshot":
            snapshot_us = snapshot_us if snapshot_us is not None else to_us(now)
            query = replace(query, updated_until_us=snapshot_us)
        rows = self._fetch(query)
        page, more = rows[:size], len(rows) > size
        consistency: dict[str, Any] = {"mode": mode}
        if mode == "snapshot":
            assert snapshot_us is not None
            consistency["snapshot_id"] = f"snap_{snapshot_us}"
            consistency["as_of"] = format_timestamp(from_us(snapshot_us))
        else:
            consistency["as_of"] = format_timestamp(now)
        response: dict[str, Any] = {
            "entity_type": kind,
            "results": [self._result(row) for row in page],
            "ordering": {"primary": "updated_at_asc", "tie_break": "id_asc"},
            "consistency": consistency,
            "provenance": {"queried_nodes": [self._node.node_id], "omitted_nodes": []},
        }
        if more:
            last = page[-1]
            position = cursors.Position(last.updated_us, last.id, snapshot_us)
            response["next_cursor"] = cursors.encode(position, bound)
        return response

    def _cross_node(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        """This node's answer merged with its approved peers' (services/federation/search.py)."""
        if self._peer_search is None:
            raise InvalidRequest("cross-node search is not available on this node")
        if "cursor" in request:
            raise InvalidRequest("a cross-node search takes no cursor", {"scope": "cross-node"})
        local = self.core_dp_search(kind, {**request, "scope": "local"})
        return self._peer_search(kind, request, local)

    @staticmethod
    def _result(row: RecordRow) -> dict[str, Any]:
        return {
            **row.document,
            "id": row.id,
            "source_node": row.source_node,
            "record_hash_sha256": row.record_hash,
            "updated_at": format_timestamp(from_us(row.updated_us)),
        }

    # -- shared -------------------------------------------------------------------------------
    def _fetch(self, query: RecordQuery) -> list[RecordRow]:
        with self._uow(read_only=True) as uow:
            return uow.records.page(query)

    @staticmethod
    def _resume(query: RecordQuery, cursor: str | None, bound: str) -> RecordQuery:
        if cursor is None:
            return query
        position = cursors.decode(cursor, bound)
        return replace(query, after=(position.updated_us, position.record_id))

    @staticmethod
    def _next(page: list[RecordRow] | list[StoredDocument], bound: str) -> str:
        last = page[-1]
        return cursors.encode(cursors.Position(last.updated_us, last.id), bound)


def _limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}", {"limit": limit})
    return limit


def _check_protocol_body(body: dict[str, Any]) -> None:
    issues = [
        Issue(f"/{key}", "is not a search field") for key in body if key not in PROTOCOL_FIELDS
    ]
    if "category" in body and not isinstance(body["category"], str):
        issues.append(Issue("/category", "must be a string"))
    for key in ("radius_km", "min_quantity", "max_loop_cost"):
        if key in body and (isinstance(body[key], bool) or not isinstance(body[key], int | float)):
            issues.append(Issue(f"/{key}", "must be a number"))
    if issues:
        raise ValidationFailed(issues)


def _at_most(cost: Money | None, ceiling: Money) -> bool:
    return cost is not None and cost <= ceiling


def _check_core_dp_body(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    issues = check_search_request(body)
    if issues:
        raise ValidationFailed(issues)
    if body["entity_type"] != kind:
        raise ValidationFailed([Issue("/entity_type", f"this route searches {kind} records")])
    return body


def _core_dp_query(kind: str, filters: dict[str, Any], strict: bool, limit: int) -> RecordQuery:
    if kind == "material" and "condition" in filters and strict:
        raise InvalidRequest(
            "material search has no condition filter (strict_filtering is on)",
            {"filter": "condition"},
        )
    query = RecordQuery(
        kind=kind,
        limit=limit,
        exclude_withdrawn=True,
        category_prefix=filters.get("category_prefix"),
        id_prefix=filters.get("id_prefix"),
        origin_city=filters.get("origin_city"),
        current_city=filters.get("current_city"),
        condition=filters.get("condition") if kind == "product" else None,
    )
    if "quantity_min" in filters:
        query = replace(
            query, min_quantity_micro=_micro(filters["quantity_min"], "/filters/quantity_min")
        )

    def stamp(name: str) -> int | None:
        return _us(filters[name], f"/filters/{name}") if name in filters else None

    return replace(
        query,
        available_from_gte_us=stamp("available_from_gte"),
        available_from_lt_us=stamp("available_from_lt"),
        updated_since_us=stamp("updated_since"),
    )


def _us(text: str, pointer: str) -> int:
    try:
        return to_us(parse_timestamp(text))
    except TimestampError as exc:
        raise ValidationFailed([Issue(pointer, str(exc))]) from exc


def _micro(value: Any, pointer: str) -> int:
    try:
        number = Decimal(repr(value))
    except InvalidOperation as exc:
        raise ValidationFailed([Issue(pointer, "must be a number")]) from exc
    if number < 0:
        raise ValidationFailed([Issue(pointer, "must be >= 0")])
    return min(int(number * 1_000_000), 2**63 - 1)
