"""The passport resolver: `GET /dpp/{id}` (HTML or JSON-LD) and `GET /dpp/{id}/qr` (issue 13).

Content negotiation: a client that ranks `text/html` at least as high as every JSON type (a
browser) gets the page; everyone else gets the passport as `application/ld+json`. Restricted
fields are hidden unless the request carries a valid API key (the operator; reader roles for
recyclers and authorities come with the security work). A key that is sent but wrong is 401,
never a silent downgrade to the public view.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Depends, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, Response

from loopnode.services.access.apikeys import Principal
from loopnode.services.dpp.resolver import PassportView
from loopnode.web.auth import authenticate, container, reader
from loopnode.web.concurrency import call
from loopnode.web.negotiation import prefers
from loopnode.web.openapi_docs import errors
from loopnode.web.responses import LDJSONResponse

router = APIRouter(prefix="/dpp", tags=["Digital Product Passports"])
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates" / "dpp"),
    autoescape=select_autoescape(["html"]),
)
HTML_TYPES = ("text/html", "application/xhtml+xml")
JSON_TYPES = ("application/ld+json", "application/json")
PNG_TYPE = "image/png"
SVG_TYPE = "image/svg+xml"


# ESPR's differentiated access: the restricted tiers are for the node's operators and for
# authorities and recyclers, who act under the `auditor` role (docs/auth.md).
RESTRICTED_READERS = ("operator", "auditor")


async def _full_access(request: Request) -> bool:
    """True for an operator or auditor credential; False for anonymous readers and the other
    roles (401 for a bad credential, or when reads are not public)."""
    if "authorization" in request.headers or "x-api-key" in request.headers:
        principal = authenticate(request)
        return any(principal.has(role) for role in RESTRICTED_READERS)
    await reader(request)
    return False


@router.get(
    "/{record_id}",
    summary="A passport for people (HTML) or machines (JSON-LD)",
    description="Browsers (Accept: text/html) get the passport page; other clients the "
    "passport as application/ld+json. Restricted fields need an operator or auditor credential.",
    responses={200: {"content": {"text/html": {}, "application/ld+json": {}}}, **errors(401, 404)},
)
async def resolve(request: Request, record_id: str) -> Response:
    services = container(request)
    full = await _full_access(request)
    if prefers(request.headers.get("accept"), HTML_TYPES, JSON_TYPES):
        view = await call(request, services.dpp.view, record_id, full_access=full)
        return HTMLResponse(render_page(view, services.settings.base_url.rstrip("/")))
    document = await call(request, services.dpp.document, record_id, full_access=full)
    links = services.dpp.links(record_id)
    link = (
        f'<{links["credential"]}>; rel="alternate"; type="application/vc", '
        f'<{links["events"]}>; rel="related"; type="application/ld+json"'
    )
    return LDJSONResponse(document, headers={"Vary": "Accept, Authorization", "Link": link})


@router.get(
    "/{record_id}/qr",
    summary="QR code of the passport's resolver URL",
    description="SVG by default; PNG with `?format=png` or `Accept: image/png`.",
    responses={200: {"content": {SVG_TYPE: {}, PNG_TYPE: {}}}, **errors(400, 404)},
)
async def qr(
    request: Request,
    record_id: str,
    _p: Annotated[Principal, Depends(reader)],
    format: Literal["svg", "png"] | None = None,
) -> Response:
    url = await call(request, container(request).dpp.resolver_url, record_id)
    wants_png = format == "png" or (
        format is None and prefers(request.headers.get("accept"), (PNG_TYPE,), (SVG_TYPE,))
    )
    code = segno.make(url, error="m", micro=False)
    buffer = io.BytesIO()
    if wants_png:
        code.save(buffer, kind="png", scale=8, border=4)
        return Response(buffer.getvalue(), media_type=PNG_TYPE, headers={"Vary": "Accept"})
    code.save(buffer, kind="svg", scale=8, border=4, xmldecl=False, title=url)
    return Response(buffer.getvalue(), media_type=SVG_TYPE, headers={"Vary": "Accept"})


def render_page(view: PassportView, base: str) -> str:
    doc = view.document
    return TEMPLATES.get_template("passport.html").render(
        v=view,
        base=base,
        title=_title(view),
        kind_label="Material" if view.kind == "material" else "Product",
        facts=[*_rows(doc, FACTS), ("availability", view.history.get("availability"))],
        condition=_rows(doc, CONDITION),
        certifications=[c for c in doc.get("certifications") or [] if isinstance(c, str)],
        claims=[c for c in doc.get("conformity_claims") or [] if isinstance(c, dict)],
        passport=_passport_rows(doc.get("passport")),
    )


FACTS = (
    ("category", "category"),
    ("product category", "product_category"),
    ("name", "name"),
    ("manufacturer", "manufacturer"),
    ("model", "model"),
    ("quantity", "quantity"),
    ("origin", "origin_city"),
    ("now in", "current_city"),
    ("available from", "available_from"),
    ("expires", "expires"),
)
CONDITION = (
    ("condition", "condition"),
    ("functional status", "functional_status"),
    ("lifecycle stage", "lifecycle_stage"),
    ("quality (0-1)", "quality"),
    ("contamination level", "contamination_level"),
)


def _text(value: Any) -> str:
    if isinstance(value, dict) and set(value) >= {"value", "unit"}:
        return f"{value['value']} {value['unit']}"
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def _rows(doc: dict[str, Any], fields: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return [(label, _text(doc[name])) for label, name in fields if doc.get(name) is not None]


def _passport_rows(passport: Any) -> list[tuple[str, str]]:
    if not isinstance(passport, dict):
        return []
    return [(name.replace("_", " "), _text(value)) for name, value in passport.items()]


def _title(view: PassportView) -> str:
    doc = view.document
    name = doc.get("name") or doc.get("category") or doc.get("product_category")
    return str(name) if name else view.record_id
