"""Model configuration, JSON-LD header fields and identifier patterns shared by every entity.

SPEC-DIGEST §1.0. Every model is strict (no coercion: `"1"` is not a number, `1` is not a string)
and validates by JSON key only (`@context`, `@type`, `from`), never by the Python attribute name,
so a payload cannot satisfy a required key under another spelling. `OpenModel` keeps unknown keys
(`additionalProperties: true`, the default, DECISIONS 4); `ClosedModel` refuses them.
Patterns are copied from the schemas verbatim; `JsonString` gives them ECMAScript semantics.
"""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Len, MaxLen
from pydantic import BaseModel, ConfigDict

from loopnode.protocol.formats import JsonString, Uri

_CONFIG = ConfigDict(
    strict=True,
    validate_by_alias=True,
    validate_by_name=False,
    serialize_by_alias=True,
    hide_input_in_errors=True,
)


class OpenModel(BaseModel):
    """An object whose schema allows additional properties; they are kept as received."""

    model_config = ConfigDict(**_CONFIG, extra="allow")


class ClosedModel(BaseModel):
    """An object with `additionalProperties: false`."""

    model_config = ConfigDict(**_CONFIG, extra="forbid")


CONTEXT_V011 = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.1.1.jsonld"
CONTEXT_V020 = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
Context = Literal[
    "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.1.1.jsonld",
    "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld",
]

SchemaVersion = Annotated[str, JsonString(pattern=r"^0\.[1-9]\d*\.\d+$")]
MaterialId = Annotated[
    str, JsonString(pattern=r"^MAT-[A-Z]{2}-[A-Z]{3}-\d{4}-[A-Z]+-[A-Z0-9]{6,}$")
]
ProductId = Annotated[str, JsonString(pattern=r"^PRD-[A-Z0-9-]{8,}$")]
RecordId = Annotated[str, JsonString(pattern=r"^[A-Z0-9-]{8,}$")]
"""Offer, Match and Transfer ids and the references to them."""
NodeId = Annotated[str, JsonString(pattern=r"^[a-z0-9\-]+\.loop$")]
AccountId = Annotated[str, JsonString(pattern=r"^(user|business|node):[^@]+@[a-z0-9\-]+\.loop$")]
CurrencyCode = Annotated[str, JsonString(pattern=r"^LC-[A-Z]{3}$")]
TransactionId = Annotated[str, JsonString(pattern=r"^TXN-\d{4}-\d{2}-\d{2}-\d{3,}$")]
CountryCode = Annotated[str, JsonString(pattern=r"^[A-Z]{2}$")]

City = Annotated[str, JsonString(min_length=2, max_length=80)]
Text120 = Annotated[str, JsonString(max_length=120)]
Text160 = Annotated[str, JsonString(max_length=160)]
Text200 = Annotated[str, JsonString(max_length=200)]
Text280 = Annotated[str, JsonString(max_length=280)]
Text500 = Annotated[str, JsonString(max_length=500)]

Images = Annotated[list[Uri], MaxLen(10)]
Capabilities = Annotated[list[str], Len(min_length=1)]
