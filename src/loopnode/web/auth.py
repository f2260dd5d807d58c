"""Credentials on HTTP: `Authorization: Bearer KEY` or the `X-API-Key: KEY` alias (DECISIONS 25).

`writer` guards every write; `reader` guards passport and node-info reads, which are public
unless the operator sets `public_reads = false`. Roles are carried on the Principal so that
role checks (and OAuth bearer tokens) can be added here without touching the routes.
"""

from __future__ import annotations

from fastapi import Request

from loopnode.bootstrap import Container
from loopnode.domain.errors import Forbidden, Unauthorized
from loopnode.services.apikeys import Principal

ANONYMOUS = Principal(name="anonymous", kind="anonymous", roles=())


def container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("use 'Authorization: Bearer <API key>'")
        return value.strip()
    return request.headers.get("x-api-key")


def authenticate(request: Request) -> Principal:
    secret = _credential(request)
    if secret is None:
        raise Unauthorized("this request needs an API key (Authorization: Bearer <key>)")
    return container(request).api_keys.authenticate(secret)


async def writer(request: Request) -> Principal:
    principal = authenticate(request)
    if "writer" not in principal.roles:
        raise Forbidden("this API key may not write")
    return principal


async def reader(request: Request) -> Principal:
    if container(request).settings.public_reads:
        return ANONYMOUS
    return authenticate(request)
