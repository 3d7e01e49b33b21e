"""Security headers on every answer: a Content-Security-Policy without inline script, no
framing, no MIME sniffing, no referrer, and no caching of anything but the static files.

A route may set its own ``Content-Security-Policy`` or ``Cache-Control``; this middleware only
adds the headers a response does not carry yet.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts and styles come only from the service's own files; a <script type="application/json">
# data block is allowed, since the browser never runs it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ALWAYS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Nothing in the service reads a Referer, and a wall's address carries its display token.
    "Referrer-Policy": "no-referrer",
}
# Static files may be cached; pages and the API answer for one person at one moment.
CACHED_PREFIX = "/static/"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cached = scope["path"].startswith(CACHED_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                if not cached:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
