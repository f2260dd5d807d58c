"""Who may call what: ONE declarative table (method + route template -> access), enforced in
one place (`authorize`, an application-wide dependency keyed by the matched route).

Access classes:
- `PUBLIC`: anyone, no credential (health, docs, the dashboard shell, §6.2 signals, keys).
- `SELF`: the route authenticates its body itself (handshake, key notices, core-dp envelopes);
  anyone may call, the body's signature decides.
- `PEER`: node-to-node, by node signature only (`signed_peer`); no client credential counts.
- `READ`: public while `public_reads` is on; otherwise any authenticated role.
- a frozenset of roles: a credential carrying one of them (401 without one, 403 with another).

`operator` may do everything a role may. Routes that other branches add (ledger, routing)
are listed too, so the table is complete the moment they are merged; the test
`tests/unit/web/test_authz.py` walks the application's routes and fails on any route missing
here.
"""

from __future__ import annotations

from typing import Final

from fastapi import Request

from loopnode.domain.errors import Forbidden, Unauthorized
from loopnode.services.access.apikeys import Principal
from loopnode.web.auth import ANONYMOUS, authenticate, container

PUBLIC: Final = "public"
SELF: Final = "self"
PEER: Final = "peer"
READ: Final = "read"

Access = str | frozenset[str]


def roles(*names: str) -> frozenset[str]:
    return frozenset({"operator", *names})


OPERATOR = roles()
AUDIT = roles("auditor")  # operator reads: peers, bids, outboxes
REGISTER = roles("registrar")
TRADE = roles("trader")
VOTE = roles("voter")

V1 = "/api/v1"

POLICY: Final[dict[tuple[str, str], Access]] = {
    # Documentation, health, keys, the dashboard shell (its data comes from the API below).
    ("GET", "/openapi.json"): PUBLIC,
    ("HEAD", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("*", "/docs/assets"): PUBLIC,
    ("*", "/ui/static"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/ui/registry"): PUBLIC,
    ("GET", "/ui/lifecycle"): PUBLIC,
    ("GET", "/ui/economy"): PUBLIC,
    ("GET", "/ui/evidence"): PUBLIC,
    ("GET", "/ui/federation"): PUBLIC,
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/.well-known/did.json"): PUBLIC,
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    ("GET", f"{V1}/whoami"): READ,  # the caller's own roles (the dashboard's panels)
    # Passports (registry).
    ("POST", f"{V1}/material"): REGISTER,
    ("GET", f"{V1}/material"): READ,
    ("POST", f"{V1}/material/search"): READ,
    ("GET", f"{V1}/material/{{record_id}}"): READ,
    ("GET", f"{V1}/material/{{record_id}}/history"): READ,
    ("GET", f"{V1}/material/{{record_id}}/credential"): READ,
    ("POST", f"{V1}/product"): REGISTER,
    ("GET", f"{V1}/product"): READ,
    ("POST", f"{V1}/product/search"): READ,
    ("GET", f"{V1}/product/{{record_id}}"): READ,
    ("GET", f"{V1}/product/{{record_id}}/history"): READ,
    ("GET", f"{V1}/product/{{record_id}}/credential"): READ,
    ("POST", f"{V1}/material-status"): REGISTER,
    ("GET", f"{V1}/material-status"): READ,
    ("GET", f"{V1}/material-status/{{update_id}}"): READ,
    ("GET", "/dpp/{record_id}"): READ,
    ("GET", "/dpp/{record_id}/qr"): READ,
    ("GET", f"{V1}/epcis/events"): READ,
    ("GET", f"{V1}/epcis/events/{{event_id:path}}"): READ,
    # Node, evidence, live stream.
    ("GET", f"{V1}/node/info"): READ,
    ("GET", f"{V1}/evidence"): READ,
    ("GET", f"{V1}/evidence/verify"): READ,
    # Signed chain heads, fetched by witnessing peers without credentials (issue 15).
    ("GET", f"{V1}/evidence/checkpoint"): PUBLIC,
    ("GET", f"{V1}/evidence/checkpoint/{{sequence}}"): PUBLIC,
    ("GET", f"{V1}/stream"): READ,
    # Lifecycle: offers, matches, transfers, transactions.
    **{
        (method, f"{V1}/{entity}{suffix}"): access
        for entity in ("offer", "match", "transfer")
        for method, suffix, access in (
            ("POST", "", TRADE),
            ("GET", "", READ),
            ("GET", "/{entity_id}", READ),
            ("POST", "/{entity_id}/status", TRADE),
        )
    },
    ("POST", f"{V1}/transaction"): TRADE,
    ("GET", f"{V1}/transaction"): READ,
    ("GET", f"{V1}/transaction/{{transaction_id}}"): READ,
    ("POST", f"{V1}/transaction/{{transaction_id}}/status"): TRADE,
    # Federation.
    ("POST", f"{V1}/federate/announce"): PEER,
    ("POST", f"{V1}/federate/offer"): PEER,
    ("POST", f"{V1}/federation/handshake"): SELF,
    ("POST", f"{V1}/federation/keys"): SELF,
    ("GET", f"{V1}/federation/nodes"): PUBLIC,
    ("GET", f"{V1}/federation/keys"): PUBLIC,
    ("GET", f"{V1}/federation/materials"): READ,
    ("GET", f"{V1}/federation/peers"): AUDIT,
    ("GET", f"{V1}/federation/bids"): AUDIT,
    ("POST", f"{V1}/federation/outgoing-bids"): TRADE,
    ("POST", f"{V1}/federation/bids/{{bid_id}}/accept"): TRADE,
    ("GET", f"{V1}/federation/outbox"): AUDIT,
    # Core-dp.
    ("POST", f"{V1}/core-dp/messages"): SELF,
    ("GET", f"{V1}/core-dp/conversations"): READ,
    ("GET", f"{V1}/core-dp/conversations/{{conversation_id}}"): READ,
    ("GET", f"{V1}/core-dp/outbox"): AUDIT,
    # LoopCoin and clearing (ledger branch, issue 10).
    ("GET", f"{V1}/loopcoin/config"): PUBLIC,
    ("GET", f"{V1}/loopcoin/supply"): READ,
    ("POST", f"{V1}/loopcoin/accounts"): TRADE,
    ("GET", f"{V1}/loopcoin/accounts/{{account_id}}"): roles("trader", "auditor"),
    ("GET", f"{V1}/loopcoin/accounts/{{account_id}}/statement"): roles("trader", "auditor"),
    ("POST", f"{V1}/loopcoin/issue"): OPERATOR,
    ("POST", f"{V1}/loopcoin/redeem"): OPERATOR,
    ("POST", f"{V1}/loopcoin/transfer"): TRADE,
    ("GET", f"{V1}/loopcoin/transfer/{{transfer_id}}"): roles("trader", "auditor"),
    ("GET", f"{V1}/loopcoin/obligations"): AUDIT,
    ("GET", f"{V1}/clearing/rounds"): AUDIT,  # who settled with whom: operator reads
    ("GET", f"{V1}/clearing/rounds/{{round_id}}"): AUDIT,
    ("POST", f"{V1}/federate/settlement"): PEER,
    ("POST", f"{V1}/federate/clearing/obligations"): PEER,
    ("POST", f"{V1}/federate/clearing/result"): PEER,
    # Signals, LoopCost, demand, routes (routing branch, issue 11).
    ("GET", f"{V1}/signals"): PUBLIC,  # §6.2: always public
    ("GET", f"{V1}/signals/history"): PUBLIC,
    ("GET", f"{V1}/signals/proposals"): PUBLIC,
    ("GET", f"{V1}/signals/proposals/{{proposal_id}}"): PUBLIC,
    ("POST", f"{V1}/signals/proposals"): VOTE,
    ("POST", f"{V1}/signals/proposals/{{proposal_id}}/ballots"): VOTE,
    ("POST", f"{V1}/signals/proposals/{{proposal_id}}/close"): OPERATOR,
    ("POST", f"{V1}/loopcost"): READ,
    ("POST", f"{V1}/demand"): TRADE,
    ("GET", f"{V1}/demand"): READ,
    ("GET", f"{V1}/demand/{{demand_id}}"): READ,
    ("POST", f"{V1}/demand/{{demand_id}}/status"): TRADE,
    ("GET", f"{V1}/material/{{material_id}}/routes"): READ,
    ("POST", f"{V1}/material/{{material_id}}/routes/confirm"): OPERATOR,
    ("GET", f"{V1}/routing/overflow"): AUDIT,
    ("POST", f"{V1}/routing/step"): OPERATOR,
    ("POST", f"{V1}/route/batch"): TRADE,
}


def access_for(method: str, template: str) -> Access | None:
    """The table's entry; HEAD falls back to GET (Starlette answers HEAD for GET routes)."""
    found = POLICY.get((method, template)) or POLICY.get(("*", template))
    if found is None and method == "HEAD":
        found = POLICY.get(("GET", template))
    return found


def check(access: Access, principal: Principal | None, *, public_reads: bool) -> None:
    """Raise 401/403 unless `principal` (None: no credential) may use a route of `access`."""
    if access in (PUBLIC, SELF, PEER) or (access == READ and public_reads):
        return
    if principal is None:
        raise Unauthorized("this request needs a credential (Authorization: Bearer ...)")
    if access == READ:
        return
    assert isinstance(access, frozenset)
    if not access.intersection(principal.roles):
        raise Forbidden(
            f"this needs one of the roles {', '.join(sorted(access))}; "
            f"the credential has {', '.join(principal.roles) or 'none'}"
        )


def _presented(request: Request) -> bool:
    return "authorization" in request.headers or "x-api-key" in request.headers


async def authorize(request: Request) -> None:
    """Application-wide dependency: look the matched route up in POLICY and enforce it.

    A route missing from the table is refused (403): nothing is reachable by omission."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    access = access_for(request.method, template) if isinstance(template, str) else None
    if access is None:
        raise Forbidden("this route is not in the access table")
    settings = container(request).settings
    principal: Principal | None = None
    if access not in (PUBLIC, SELF, PEER) and _presented(request):
        principal = authenticate(request)
    check(access, principal, public_reads=settings.public_reads)
    request.state.principal = principal or ANONYMOUS


def panel_roles() -> dict[str, list[str]]:
    """The roles that may read each role-restricted dashboard panel's API."""
    panels = {
        "clearing": ("GET", f"{V1}/clearing/rounds"),
        "peers": ("GET", f"{V1}/federation/peers"),
        "outbox": ("GET", f"{V1}/federation/outbox"),
    }
    found: dict[str, list[str]] = {}
    for name, key in panels.items():
        access = POLICY[key]
        found[name] = sorted(access) if isinstance(access, frozenset) else []
    return found


# The ownership rules (a registrar's own organisation, a LoopCoin account's holder) live in
# services/access/ownership.py, where services can call them: `ensure_organisation`,
# `ensure_holder`.
