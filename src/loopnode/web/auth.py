"""Credentials on HTTP: `Authorization: Bearer CREDENTIAL` or the `X-API-Key: KEY` alias.

A credential is an API key (`lnk_…`) or an OAuth 2.0 bearer JWT (`services/access/tokens.py`). Which
role may call which route is decided once, by `web/authz.authorize` from its table; `writer`
and `reader` hand the route the principal that check established (and still authenticate on
their own where a route is used without it, e.g. in a bare test app).
"""

from __future__ import annotations

from fastapi import Request

from loopnode.bootstrap import Container
from loopnode.domain.errors import Forbidden, Unauthorized
from loopnode.services.access.apikeys import Principal

ANONYMOUS = Principal(name="anonymous", kind="anonymous", roles=())


def container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("use 'Authorization: Bearer <API key or token>'")
        return value.strip()
    return request.headers.get("x-api-key")


def authenticate(request: Request) -> Principal:
    secret = _credential(request)
    if secret is None:
        raise Unauthorized("this request needs an API key (Authorization: Bearer <key>)")
    return container(request).auth.authenticator.authenticate(secret)


def _checked(request: Request) -> Principal | None:
    found = getattr(request.state, "principal", None)
    return found if isinstance(found, Principal) else None


async def writer(request: Request) -> Principal:
    principal = _checked(request)
    if principal is None or principal is ANONYMOUS:
        principal = authenticate(request)
    if not principal.roles:
        raise Forbidden("this credential carries no role")
    return principal


async def reader(request: Request) -> Principal:
    principal = _checked(request)
    if principal is not None:
        return principal
    if container(request).settings.public_reads:
        return ANONYMOUS
    return authenticate(request)
