"""The city dashboard (issue 14): server-rendered pages at `/` and `/ui/...`.

Each page is a Jinja2 shell rendered here with the node's identity and a small JSON
configuration; plain ES modules under `/ui/static/dashboard/` then fill its panels from the
public HTTP API (the same API and authentication as any client: an API key kept in the
browser's sessionStorage, sent as `Authorization: Bearer`). Nothing is loaded from outside the
node: Leaflet is vendored under `/ui/static/vendor/`, and the map draws on a plain background
unless the operator configures a tile server (`dashboard_tile_url`).

The configuration also says which optional APIs this node serves (LoopCoin, signals,
clearing, LoopCost, the DPP resolver), read from the application's own routes, so a panel
whose API is absent says "not available on this node" without making a failing request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, Response

from loopnode import __version__
from loopnode.web.auth import container
from loopnode.web.authz import panel_roles
from loopnode.web.ratelimit import client_identity

__all__ = ["PAGES", "install"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PREFIX = "/ui/static"


@dataclass(frozen=True, slots=True)
class Page:
    key: str
    path: str
    title: str


PAGES = (
    Page("overview", "/", "Overview"),
    Page("registry", "/ui/registry", "Registry"),
    Page("lifecycle", "/ui/lifecycle", "Lifecycle"),
    Page("economy", "/ui/economy", "Economy"),
    Page("evidence", "/ui/evidence", "Evidence"),
    Page("federation", "/ui/federation", "Federation"),
)

# Optional APIs, by a route that proves each one is served here.
FEATURES = {
    "signals": "/api/v1/signals",
    "proposals": "/api/v1/signals/proposals",
    "loopcoin": "/api/v1/loopcoin/config",
    "supply": "/api/v1/loopcoin/supply",
    "accounts": "/api/v1/loopcoin/accounts/{",
    "clearing": "/api/v1/clearing/rounds",
    "loopcost": "/api/v1/loopcost",
    "routes": "/api/v1/material/{",
    "dpp": "/dpp/{",
    "evidence_verify": "/api/v1/evidence/verify",
}

_env = Environment(
    loader=PackageLoader("loopnode.web", "templates/dashboard"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def install(app: FastAPI) -> None:
    """Mount the vendored assets and the pages on `app`."""
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.include_router(_router())


def _router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for page in PAGES:
        router.add_api_route(page.path, _handler(page), methods=["GET"])
    return router


def _handler(page: Page) -> Any:
    async def show(request: Request) -> Response:
        return render(request, page)

    show.__name__ = f"dashboard_{page.key}"
    return show


def render(request: Request, page: Page) -> HTMLResponse:
    settings = container(request).settings
    config = {
        "page": page.key,
        "node_id": settings.node_id,
        "name": settings.name,
        "city": settings.city,
        "lat": settings.lat,
        "lon": settings.lon,
        "tile_url": settings.dashboard_tile_url,
        "public_reads": settings.public_reads,
        "features": features(request.app),
        "pass": request.app.state.dashboard_passes.issue(client_identity(request.scope)),
        "roles": panel_roles(),
    }
    html = _env.get_template(f"{page.key}.html").render(
        page=page,
        pages=PAGES,
        settings=settings,
        version=__version__,
        static=STATIC_PREFIX,
        config_json=_script_json(config),
    )
    return HTMLResponse(html, headers=_headers(settings.dashboard_tile_url))


def features(app: FastAPI) -> dict[str, bool]:
    """Which optional APIs this application serves, from its route paths."""
    paths = route_paths(app)
    found = {}
    for name, prefix in FEATURES.items():
        if name == "routes":
            found[name] = any(p.startswith(prefix) and p.endswith("/routes") for p in paths)
        elif prefix.endswith("{"):
            found[name] = any(p.startswith(prefix) for p in paths)
        else:
            found[name] = prefix in paths
    return found


def route_paths(app: FastAPI) -> set[str]:
    """Every path the app routes: its OpenAPI paths plus routes hidden from the schema."""
    paths = set(app.openapi().get("paths", {}))
    paths.update(_walk(app.routes))
    return paths


def _walk(routes: Any) -> set[str]:
    found: set[str] = set()
    for route in routes:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            found.add(path)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found.update(_walk(getattr(inner, "routes", ())))
    return found


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element (no `</script>` or HTML comment can close it)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _headers(tile_url: str) -> dict[str, str]:
    images = "'self' data:"
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        if parts.scheme in ("http", "https") and parts.netloc:
            host = parts.netloc
            if "{s}" in tile_url:
                host = "*." + host.split(".", 1)[-1]
            images += f" {parts.scheme}://{host}"
    policy = (
        "default-src 'self'; "
        f"img-src {images}; "
        "style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }
