"""The core-dp `searchRequest` (profiles/core-dp/schemas/search-contract.schema.json).

Closed at every level, like the schema. Semantic rules that the schema cannot say (a material
search with `condition` under strict filtering, cursor binding) live in
`services/registry/search.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loopnode.domain.errors import Issue
from loopnode.domain.times import TimestampError, parse_timestamp
from loopnode.protocol.validation import issues_from

_CLOSED = ConfigDict(extra="forbid", strict=True)


def _date_time(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_timestamp(value)
        except TimestampError as exc:
            raise ValueError('must match format "date-time"') from exc
    return value


def _refuse_null(value: Any) -> Any:
    """The schema's optional members are never nullable: `null` is invalid, not absent."""
    if isinstance(value, dict):
        nulls = sorted(str(k) for k, v in value.items() if v is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} must not be null (omit the member instead)")
    return value


class _Closed(BaseModel):
    model_config = _CLOSED

    _no_null = model_validator(mode="before")(_refuse_null)


class SearchFilters(_Closed):
    category_prefix: Annotated[str, Field(min_length=1)] | None = None
    id_prefix: Annotated[str, Field(min_length=3)] | None = None
    origin_city: Annotated[str, Field(min_length=1)] | None = None
    current_city: Annotated[str, Field(min_length=1)] | None = None
    available_from_gte: str | None = None
    available_from_lt: str | None = None
    quantity_min: Annotated[float, Field(ge=0)] | None = None
    condition: Annotated[str, Field(min_length=1)] | None = None
    updated_since: str | None = None

    _dates = field_validator("available_from_gte", "available_from_lt", "updated_since")(_date_time)


class SearchAuth(_Closed):
    mode: Literal["public-lab", "bearer", "node-signature"]
    subject_node: str | None = None


class SearchRequest(_Closed):
    entity_type: Literal["material", "product"]
    scope: Literal["local", "cross-node"] | None = None
    filters: SearchFilters
    auth: SearchAuth | None = None
    strict_filtering: bool | None = None
    limit: Annotated[int, Field(ge=1, le=100)]
    cursor: Annotated[str, Field(pattern=r"^cur_[A-Za-z0-9_-]{16,200}$")] | None = None
    consistency: Literal["snapshot", "eventual"] | None = None

    @field_validator("limit", mode="before")
    @classmethod
    def _integral_float(cls, value: Any) -> Any:
        # JSON Schema (and the upstream validator) treat 20.0 as the integer 20.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @model_validator(mode="after")
    def _cross_node_rules(self) -> SearchRequest:
        if self.scope == "cross-node":
            if self.auth is None or self.consistency is None:
                raise ValueError(
                    "cross-node search must have required property 'auth' and 'consistency'"
                )
            if self.auth.mode != "node-signature":
                raise ValueError("cross-node search requires auth.mode node-signature")
            if self.consistency != "eventual":
                raise ValueError("cross-node search requires consistency eventual")
        return self


def check_search_request(body: object) -> list[Issue]:
    """[] when `body` is a valid searchRequest, else the problems with JSON pointers."""
    try:
        SearchRequest.model_validate(body)
    except ValidationError as exc:
        return issues_from(exc)
    return []
