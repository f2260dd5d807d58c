"""`/docs`: Swagger UI served from the package's own files (no CDN, so it works offline).

FastAPI's default page loads Swagger UI from a CDN; an offline node then shows a blank page. Here
the page is FastAPI's `get_swagger_ui_html` pointed at assets vendored in `web/static/swagger-ui`
(swagger-ui-dist 5.36.0, Apache-2.0; see its README.md there). ReDoc is not offered.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS = Path(__file__).resolve().parent / "static" / "swagger-ui"
ASSETS_URL = "/docs/assets"
SWAGGER_UI_VERSION = "5.36.0"
_OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def install(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Serve `/docs` (and its OAuth2 redirect page) with the vendored assets."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="swagger-ui-assets")

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            oauth2_redirect_url=_OAUTH2_REDIRECT,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app.add_api_route(_OAUTH2_REDIRECT, oauth2_redirect, methods=["GET"], include_in_schema=False)
