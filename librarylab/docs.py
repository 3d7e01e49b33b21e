"""The API's documentation page (Swagger UI) with every file served by the service itself.

Swagger UI's script and style come from the ``fastapi-offline`` package instead of a CDN.
FastAPI's page starts Swagger UI with one inline script; that page's Content-Security-Policy
allows exactly that script by its hash, and nothing else inline.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from librarylab.headers import CONTENT_SECURITY_POLICY

ASSETS = "/static/docs"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def add_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI's files under ``/static/docs`` and the page at ``/docs``.

    Call before ``/static`` is mounted (the more specific mount must come first); build the
    app with ``docs_url=None, redoc_url=None``.
    """
    app.mount(
        ASSETS,
        StaticFiles(directory=str(resources.files("fastapi_offline") / "static")),
        name="docs-static",
    )
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} · API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    ).body
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(bytes(page).decode())
    )
    policy = CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src 'self' {hashes}")

    @app.get("/docs", include_in_schema=False)
    def read_api_docs() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": policy})
