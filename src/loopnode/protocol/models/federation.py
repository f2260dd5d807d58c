"""Federation messages: the openapi `MaterialAnnouncement` and `MaterialOffer` components and
`S/federate-accepted.schema.json` (SPEC-DIGEST §1.8, §1.13).

The two openapi components are loose: `@context`, `@type`, `material`, `origin` and `from` are
any strings (the JSON-LD contexts name the types `MaterialAnnouncement` and `MaterialOffer`),
and extra fields such as DECISIONS 21's `ttl` or the §12.1 example's `category` are kept.
FederateAcceptedResponse is plain JSON with no `@context`/`@type`, and closed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from loopnode.protocol.formats import DateTime
from loopnode.protocol.models.base import ClosedModel, OpenModel
from loopnode.protocol.models.json_types import JsonNumber, Number


class MaterialAnnouncement(OpenModel):
    at_context: str = Field(alias="@context")
    at_type: str = Field(alias="@type")
    material: str
    origin: str
    available: bool


class MaterialOffer(OpenModel):
    at_context: str = Field(alias="@context")
    at_type: str = Field(alias="@type")
    material: str
    from_: str = Field(alias="from")
    base_price: Number
    loop_cost: Number
    valid_until: DateTime


class FederateAcceptedResponse(ClosedModel):
    """The 202 body of `POST /federate/announce` and `/federate/offer`."""

    status: Literal["accepted"]
    id: Annotated[int, JsonNumber(minimum=1, integer=True)]
