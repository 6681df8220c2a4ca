"""The agent console, the ticket-sidebar widget and the SVG badge.

- JSON under ``/v1/`` for the pages (same API keys as every ``/v1/`` call): the queue
  (``GET /v1/messages``), one message (``GET /v1/messages/{id}``), a ticket's latest message
  (``GET /v1/tickets/{ticket_id}``), what the pages need to draw (``GET /v1/console/meta``) and a
  signed badge URL (``GET /v1/tickets/{ticket_id}/badge-url``).
- Pages without keys in them: ``GET /console`` (asks for the key, keeps it in sessionStorage),
  ``GET /widget?ticket_id=…`` (iframe-friendly; the key may come in the URL fragment ``#key=…``,
  which the browser never sends), their static files under ``/console/assets/``.
- ``GET /badge/{ticket_id}.svg?sig=…``: an image for systems that can show nothing else; an image
  request cannot carry a header, so the URL is signed (HMAC of the ticket id with
  ``KASUHARA_BADGE_SECRET``) instead of carrying a key.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from html import escape
from importlib import resources
from typing import Callable
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from ..models.levels import Level, load_levels
from .errors import ApiError
from .inbox import QueueFilter, get_message, latest_for_ticket, latest_level, list_messages
from .settings import Settings
from .storage import StoreError

UTC = dt.timezone.utc
ASSET_NAME = re.compile(r"^[a-z0-9_-]+\.(css|js|svg)$")
ASSET_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8",
               "svg": "image/svg+xml"}
PSEUDONYM = re.compile(r"^[0-9a-f]{6,64}$")
SIG_CHARS = 32



# -- pure helpers --------------------------------------------------------------------------
def page_headers(frame_ancestors: str) -> dict:
    """Security headers of the HTML pages: only our own scripts and styles, no inline code,
    calls only to this origin, framing only by ``frame_ancestors`` (``'none'`` for the console)."""
    csp = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           f"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors}")
    headers = {"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer",
               "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    if frame_ancestors == "'none'":
        headers["X-Frame-Options"] = "DENY"
    return headers


def badge_signature(secret: str, ticket_id: str) -> str:
    """The ``sig`` of a badge URL: HMAC-SHA256 of the ticket id, hex, first 32 characters."""
    mac = hmac.new(secret.encode(), b"badge:" + ticket_id.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return mac.hexdigest()[:SIG_CHARS]


def check_ticket_id(ticket_id: str) -> None:
    """A ticket id as the store keeps it: at most 200 characters, no NUL (PostgreSQL refuses it)."""
    if len(ticket_id) > 200:
        raise ApiError(422, "invalid_ticket_id", "ticket_id has more than 200 characters")
    if "\x00" in ticket_id:
        raise ApiError(422, "invalid_ticket_id", "ticket_id contains a NUL character")


def _text_width(s: str, size: float) -> float:
    """Rough advance width: full-width characters one em, others about 0.6 em."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.6 for ch in s)


def badge_svg(level: Level | None) -> str:
    """A small two-part badge: 「カスハラ判定」 and the level's shape + Japanese label
    (「未判定」 when the ticket has no scored message)."""
    size, pad, r = 12.0, 8.0, 5.5
    left = "カスハラ判定"
    right = level.ja if level is not None else "未判定"
    lw = _text_width(left, size) + 2 * pad
    rw = _text_width(right, size) + 2 * pad + (2 * r + 5 if level is not None else 0)
    w, h = lw + rw, 22
    colour = level.colour if level is not None else "#666"
    label = f"カスハラ判定: {right}" + (f"（{level.description}）" if level is not None else "")
    shape = f'<text x="{lw + pad:.1f}" y="15">{escape(level.icon)}</text>' if level is not None else ""
    tx = lw + pad + (2 * r + 5 if level is not None else 0)
    font = "'Noto Sans CJK JP','Hiragino Sans','Yu Gothic','Meiryo',sans-serif"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h}" role="img" '
            f'aria-label="{escape(label)}"><title>{escape(label)}</title>'
            f'<rect width="{w:.0f}" height="{h}" rx="4" fill="#444"/>'
            f'<rect x="{lw:.0f}" width="{rw:.0f}" height="{h}" rx="4" fill="{colour}"/>'
            f'<rect x="{lw:.0f}" width="6" height="{h}" fill="{colour}"/>'
            f'<g font-family="{font}" font-size="{size:.0f}" fill="#fff">'
            f'<text x="{pad}" y="15">{escape(left)}</text>{shape}'
            f'<text x="{tx:.1f}" y="15" font-weight="bold">{escape(right)}</text></g></svg>')


def levels_css(levels: dict[str, Level]) -> str:
    """The levels' colours as the CSS variables the pages use (one source: levels.json)."""
    rules = "".join(f"  --lv-{lv.id}: {lv.colour}; --lv-{lv.id}-bg: {lv.background};\n" for lv in levels.values())
    return f":root {{\n{rules}}}\n"


def _asset(name: str) -> bytes | None:
    if not ASSET_NAME.match(name):
        return None
    f = resources.files("kasuhara.service").joinpath("web", name)
    return f.read_bytes() if f.is_file() else None


# -- the router ----------------------------------------------------------------------------
def console_router(settings: Settings, auth: Callable) -> APIRouter:
    """Routes of the console, widget and badge; ``auth`` is the app's ``/v1/`` key dependency."""
    router = APIRouter()
    levels = load_levels()

    def store_of(request: Request):
        state = request.app.state
        if state.store_error:
            raise ApiError(503, "store_unavailable", "the store is unavailable; retry later")
        return state.store

    async def read(fn, *args):
        try:
            return await run_in_threadpool(fn, *args)
        except StoreError as e:
            raise ApiError(503, "store_unavailable", str(e)) from None

    def badge_url(ticket_id: str) -> str | None:
        path = f"/badge/{quote(ticket_id, safe='')}.svg"
        if settings.badge_secret:
            return f"{path}?sig={badge_signature(settings.badge_secret, ticket_id)}"
        return None if settings.api_keys else path

    @router.get("/v1/console/meta", tags=["console"])
    async def meta(request: Request, actor: str = Depends(auth)) -> dict:
        """What the console and widget draw with: levels, categories, whether text is kept."""
        tax = request.app.state.engine.taxonomy
        return {"levels": [lv.as_dict() for lv in levels.values()],
                "categories": [c.as_dict() for c in tax.categories],
                "store_text": settings.store_text, "retention_days": settings.retention_days,
                "cascade": settings.cascade, "model_version": request.app.state.engine.version}

    @router.get("/v1/messages", tags=["console"])
    async def messages(request: Request, actor: str = Depends(auth),
                       level: str | None = Query(None, max_length=100,
                                                 description="comma-separated levels, e.g. high,critical"),
                       label: str | None = Query(None, max_length=40, description="a taxonomy id"),
                       customer_id: str | None = Query(None, max_length=200,
                                                       description="the customer id as the ticketing system knows it"),
                       customer: str | None = Query(None, max_length=64,
                                                    description="a customer pseudonym (or its first 6+ hex characters)"),
                       ticket_id: str | None = Query(None, max_length=200),
                       before_id: int | None = Query(None, ge=1, le=2**62, description="page on: the previous answer's next_before_id"),
                       limit: int = Query(50, ge=1, le=200)) -> dict:
        """The queue: newest first, filtered by level, category, customer or ticket."""
        wanted = tuple(x.strip() for x in level.split(",") if x.strip()) if level else ()
        bad = [x for x in wanted if x not in levels]
        if bad:
            raise ApiError(422, "invalid_level", f"unknown level(s) {bad}; use {list(levels)}")
        if label is not None and label not in request.app.state.engine.taxonomy.ids:
            raise ApiError(422, "unknown_label", f"unknown label id: {label!r}")
        if customer_id is not None and customer is not None:
            raise ApiError(422, "invalid_request", "give customer_id or customer, not both")
        if customer is not None and not PSEUDONYM.match(customer):
            raise ApiError(422, "invalid_customer", "customer must be 6 to 64 lowercase hex characters")
        if ticket_id is not None:
            check_ticket_id(ticket_id)
        store = store_of(request)
        key = store.key(customer_id) if customer_id is not None else customer
        f = QueueFilter(levels=wanted, label=label, customer_key=key, ticket_id=ticket_id,
                        before_id=before_id, limit=limit)
        return await read(list_messages, store, f)

    @router.get("/v1/messages/{row_id}", tags=["console"])
    async def message(row_id: int, request: Request, actor: str = Depends(auth)) -> dict:
        """One scored message: evidence (its words only while the text is kept), demands,
        actions, the customer's history and the feedback given on it."""
        if row_id < 1 or row_id > 2**62:
            raise ApiError(404, "not_found", f"no scored message {row_id}")
        out = await read(get_message, store_of(request), row_id, dt.datetime.now(UTC))
        if out is None:
            raise ApiError(404, "not_found", f"no scored message {row_id}")
        return out

    # ticket ids may hold "/" (sent as %2F, decoded before routing): the ids are :path parameters,
    # and the longer route comes first
    @router.get("/v1/tickets/{ticket_id:path}/badge-url", tags=["console"])
    async def ticket_badge_url(ticket_id: str, actor: str = Depends(auth)) -> dict:
        """The URL of the ticket's SVG badge (signed when KASUHARA_BADGE_SECRET is set)."""
        check_ticket_id(ticket_id)
        url = badge_url(ticket_id)
        if url is None:
            raise ApiError(404, "badge_disabled", "set KASUHARA_BADGE_SECRET to sign badge URLs")
        return {"url": url}

    @router.get("/v1/tickets/{ticket_id:path}", tags=["console"])
    async def ticket(ticket_id: str, request: Request, actor: str = Depends(auth)) -> dict:
        """The latest scored message of a ticket (what the widget shows)."""
        check_ticket_id(ticket_id)
        out = await read(latest_for_ticket, store_of(request), ticket_id, dt.datetime.now(UTC))
        if out is None:
            raise ApiError(404, "not_found", "no scored message for this ticket")
        out["badge_url"] = badge_url(ticket_id)
        return out

    @router.get("/badge/{ticket_id:path}.svg", tags=["console"])
    async def badge(ticket_id: str, request: Request, sig: str | None = Query(None, max_length=64)):
        """The ticket's level as an SVG image (shape + Japanese text)."""
        if settings.badge_secret:
            good = badge_signature(settings.badge_secret, ticket_id)
            if sig is None or not hmac.compare_digest(sig.encode(), good.encode()):
                raise ApiError(403, "bad_signature", "the badge URL is not signed for this ticket")
        elif settings.api_keys:
            raise ApiError(404, "badge_disabled", "set KASUHARA_BADGE_SECRET to serve signed badge URLs")
        check_ticket_id(ticket_id)
        level_id = await read(latest_level, store_of(request), ticket_id)
        svg = badge_svg(levels.get(level_id) if level_id else None)
        return Response(svg, media_type="image/svg+xml",
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

    def page(name: str, frame_ancestors: str) -> HTMLResponse:
        return HTMLResponse(_asset_html(name), headers=page_headers(frame_ancestors))

    @router.get("/console", include_in_schema=False)
    async def console_page():
        return page("console.html", "'none'")

    @router.get("/widget", include_in_schema=False)
    async def widget_page():
        return page("widget.html", settings.frame_ancestors)

    @router.get("/console/assets/{name}", include_in_schema=False)
    async def asset(name: str):
        body = levels_css(levels).encode() if name == "levels.css" else _asset(name)
        if body is None:
            raise ApiError(404, "not_found", "no such file")
        return Response(body, media_type=ASSET_TYPES[name.rsplit(".", 1)[1]],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    return router


def _asset_html(name: str) -> str:
    return resources.files("kasuhara.service").joinpath("web", name).read_text("utf-8")

