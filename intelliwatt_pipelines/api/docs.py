"""Swagger UI (``/docs``) and ReDoc (``/redoc``) from assets the API serves itself, so both work with
no network (FastAPI's own pages load them from a CDN and stay blank offline).

The JavaScript, CSS and favicon are the ones the ``fastapi-offline`` package ships (its ``static``
folder; its app factory is not used): no third-party bundle is kept in this repository. The pages
name no other host, and their Content-Security-Policy lets the browser fetch nothing from one.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs/static"
# Swagger UI's page starts it with an inline script; ReDoc runs its search in a blob: worker.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def add_docs(app: FastAPI) -> None:
    """Mount the assets and add both pages (the app is made with docs_url=None, redoc_url=None)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-static")

    def urls(request: Request) -> tuple[str, str]:
        root = request.scope.get("root_path", "")  # behind a proxy mounting the API under a prefix
        return root + app.openapi_url, root + ASSETS_URL

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        openapi, assets = urls(request)
        page = get_swagger_ui_html(
            openapi_url=openapi, title=f"{app.title} - Swagger UI", swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css", swagger_favicon_url=f"{assets}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None})  # its default badge loads an image from swagger.io
        return _secured(page)

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        openapi, assets = urls(request)
        page = get_redoc_html(openapi_url=openapi, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{assets}/redoc.standalone.js", redoc_favicon_url=f"{assets}/favicon.png",
                              with_google_fonts=False)
        return _secured(page)


def _secured(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    return page
