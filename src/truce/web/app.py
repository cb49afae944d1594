"""The ASGI app: pages (Jinja2, server-rendered, working without JavaScript), the JSON API
under ``/api/v1`` with its OpenAPI document at ``/openapi.json``, and the static files
(Leaflet and its marker clusters from the installed XStatic packages, our CSS and script).

:func:`create_app` builds it over one :class:`truce.db.Database`; ``truce serve`` runs it
with uvicorn. Everything it serves comes from installed packages: no CDN, no font or tile
from elsewhere unless a tile URL is configured.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles

from truce import __version__
from truce.db import Database
from truce.errors import PipelineError
from truce.web import api, pages
from truce.web.state import HERE, WebError, WebState, error_body


def _load_registry(db: Database, settings: Any) -> Any:
    from truce.ingest.facilities import apply_links, stored_facilities
    from truce.reference.registry import Registry
    from truce.text import KeyMaker

    reg = Registry.load(KeyMaker(None), settings.registry, extra=stored_facilities(db))
    return apply_links(reg, db)


def create_app(db: Database | str | None = None, *, open_access: bool = False, tile_url: str | None = None,
               secret_key: str | None = None, settings: Any = None, poll_seconds: float = 5.0) -> FastAPI:
    """The app over ``db`` (a Database, or a path/URL). ``open_access``: anyone may read
    everything (a laptop, a trusted network); writes always need an account. ``tile_url``:
    an online tile layer (``https://…/{z}/{x}/{y}.png``), off by default. ``secret_key`` signs
    session cookies (``TRUCE_SECRET_KEY``; a random one per process otherwise)."""
    from truce.config import Settings
    from truce.reference.gazetteer import read_regions
    from truce.reference.terms import load_agreements

    settings = settings or Settings.load()
    database = db if isinstance(db, Database) else Database(db or settings.db, create=False)
    state = WebState(db=database, agreements=load_agreements(settings.agreements),
                     registry=_load_registry(database, settings), regions=read_regions(),
                     open_access=open_access, tile_url=tile_url or os.environ.get("TRUCE_TILE_URL") or None,
                     poll_seconds=poll_seconds)
    app = FastAPI(title="Truce Monitor API", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json",
                  description="Incidents, findings, agreements, facilities, reports, the ledger and reviews. "
                              "Lists take the filters of the command line and a cursor; errors are "
                              "{\"ok\": false, \"error\": …, \"status\": …}. Writes need a bearer token.")
    app.state.truce = state
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.add_middleware(SessionMiddleware, secret_key=secret_key or os.environ.get("TRUCE_SECRET_KEY") or secrets.token_hex(32),
                       session_cookie="truce_session", same_site="strict", https_only=False, max_age=12 * 3600)

    app.add_middleware(SecurityHeaders, tile_url=state.tile_url)

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")

    def error_response(request: Request, status: int, message: str) -> Response:
        if wants_json(request):
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return JSONResponse(error_body(status, message), status_code=status, headers=headers)
        return pages.error_page(request, status, message)

    @app.exception_handler(WebError)
    async def web_error(request: Request, exc: WebError) -> Response:
        return error_response(request, exc.status, exc.message)

    @app.exception_handler(PipelineError)
    async def pipeline_error(request: Request, exc: PipelineError) -> Response:
        return error_response(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path"))
        return error_response(request, 422, f"{where or 'request'}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail))

    _mount_static(app)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.openapi = lambda: api.openapi_document(app)  # type: ignore[method-assign]
    return app


class SecurityHeaders:
    """Content-Security-Policy (scripts from this app only, no inline script, no eval; images
    also from the configured tile host), nosniff, no referrer, no framing: a plain ASGI
    middleware (Starlette's BaseHTTPMiddleware costs a task per request)."""

    def __init__(self, app: Any, tile_url: str | None = None):
        self.app = app
        tiles = ""
        if tile_url:
            from urllib.parse import urlsplit

            u = urlsplit(tile_url.replace("{s}", "a"))
            tiles = f" {u.scheme}://*.{'.'.join(u.netloc.split('.')[-2:])} {u.scheme}://{u.netloc}"
        csp = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               f"img-src 'self' data:{tiles}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")
        self.headers = [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
                        (b"referrer-policy", b"no-referrer")]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + self.headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _mount_static(app: FastAPI) -> None:
    import xstatic.pkg.leaflet as leaflet
    import xstatic.pkg.leaflet_markercluster as cluster

    app.mount("/static/leaflet", StaticFiles(directory=leaflet.BASE_DIR), name="leaflet")
    app.mount("/static/markercluster", StaticFiles(directory=cluster.BASE_DIR), name="markercluster")
    app.mount("/static/truce", StaticFiles(directory=HERE / "static"), name="truce-static")
