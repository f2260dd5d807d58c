"""NodeHandshake and NodeHandshakeResponse, `S/handshake.schema.json` (SPEC-DIGEST §1.7).

Both are closed (`additionalProperties: false`). The request's `endpoint` is a URI that starts
with `http://` or `https://`; the response's `lab_only` is the boolean `true`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from loopnode.protocol.formats import DateTime, JsonString
from loopnode.protocol.models.base import (
    Capabilities,
    ClosedModel,
    Context,
    NodeId,
    SchemaVersion,
    Text280,
)
from loopnode.protocol.models.json_types import Opt, TrueConst


class NodeHandshake(ClosedModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["NodeHandshake"] = Field(alias="@type")
    schema_version: SchemaVersion
    node_id: NodeId
    name: Annotated[str, JsonString(min_length=2, max_length=120)]
    endpoint: Annotated[str, JsonString(format="uri", pattern=r"^https?://")]
    capabilities: Capabilities
    public_key: Opt[str] = None
    timestamp: DateTime
    signature: Opt[str] = None


class NodeHandshakeResponse(ClosedModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["NodeHandshakeResponse"] = Field(alias="@type")
    schema_version: SchemaVersion
    status: Literal["accepted", "rejected"]
    peer_id: NodeId
    capabilities: Capabilities
    received_at: DateTime
    lab_only: TrueConst
    message: Opt[Text280] = None
