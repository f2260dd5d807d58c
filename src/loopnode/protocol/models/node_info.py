"""NodeInfo, NodeRegistry and NodeStatus, `S/node-info.schema.json` (SPEC-DIGEST §1.12).

NodeInfo's `endpoint` must be an `https://` URI, and its `public_key` PEM must end exactly with
`-----END PUBLIC KEY-----` (no trailing newline, DECISIONS 18). Its `contact` is the node
operator's, an ordinary object here (the forbidden `contact` is MaterialDNA/ProductDNA's).
Registry entries carry an unbounded `location`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Len
from pydantic import Field

from loopnode.protocol.formats import Date, DateTime, Email, JsonString, Uri
from loopnode.protocol.models.base import (
    Context,
    CountryCode,
    NodeId,
    OpenModel,
    SchemaVersion,
)
from loopnode.protocol.models.json_types import (
    Count,
    Latitude,
    Longitude,
    NonNegative,
    Number,
    Opt,
    Percent,
)

Capability = Literal[
    "material-registry",
    "loopcoin",
    "loopsignal",
    "smart-contracts",
    "bulk-operations",
    "websocket",
    "graphql",
]
PublicKeyPem = Annotated[
    str, JsonString(pattern=r"^-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----$")
]


class NodeLocation(OpenModel):
    lat: Latitude
    lon: Longitude
    city: Opt[str] = None
    country: Opt[CountryCode] = None


class NodeStatistics(OpenModel):
    materials_active: Opt[Count] = None
    transactions_daily: Opt[Count] = None
    transactions_total: Opt[Count] = None
    loopcoin_supply: Opt[Count] = None
    users_active: Opt[Count] = None
    businesses_registered: Opt[Count] = None


class NodeContact(OpenModel):
    email: Opt[Email] = None
    phone: Opt[str] = None
    website: Opt[Uri] = None


class NodeMetadata(OpenModel):
    operator: Opt[str] = None
    established: Opt[Date] = None
    population_served: Opt[Count] = None
    languages: Opt[list[Annotated[str, JsonString(pattern=r"^[a-z]{2}$")]]] = None


class NodeInfo(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["NodeInfo"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    id: NodeId
    name: str
    version: Annotated[str, JsonString(pattern=r"^\d+\.\d+\.\d+$")]
    location: NodeLocation
    capabilities: Annotated[list[Capability], Len(min_length=1)]
    endpoint: Annotated[str, JsonString(format="uri", pattern=r"^https://")]
    public_key: Opt[PublicKeyPem] = None
    statistics: Opt[NodeStatistics] = None
    contact: Opt[NodeContact] = None
    metadata: Opt[NodeMetadata] = None


class RegistryPosition(OpenModel):
    lat: Number
    lon: Number


class RegistryEntry(OpenModel):
    id: NodeId
    endpoint: Uri
    public_key: Opt[str] = None
    location: RegistryPosition
    status: Literal["active", "inactive", "maintenance", "suspended"]
    last_seen: Opt[DateTime] = None
    capabilities: Opt[list[str]] = None


class NodeRegistry(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["NodeRegistry"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    version: Date
    nodes: list[RegistryEntry]


class NodeHealth(OpenModel):
    api_response_time_ms: Opt[NonNegative] = None
    database_status: Opt[Literal["healthy", "degraded", "error"]] = None
    disk_usage_percent: Opt[Percent] = None
    memory_usage_percent: Opt[Percent] = None


class PeerStatus(OpenModel):
    node: Opt[NodeId] = None
    latency_ms: Opt[NonNegative] = None
    last_contact: Opt[DateTime] = None


class NodeStatus(OpenModel):
    at_context: Context = Field(alias="@context")
    at_type: Literal["NodeStatus"] = Field(alias="@type")
    schema_version: Opt[SchemaVersion] = None
    node: NodeId
    status: Literal["online", "offline", "degraded", "maintenance"]
    timestamp: DateTime
    health: Opt[NodeHealth] = None
    peers: Opt[list[PeerStatus]] = None
