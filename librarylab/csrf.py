"""CSRF protection for cookie-authenticated requests (double-submit cookie, via asgi-csrf).

Form posts carry a hidden ``csrftoken`` field; scripts using the session cookie send the
``x-csrftoken`` header; requests with ``Authorization: Bearer`` need neither.

Upload forms (multipart) send the token in the header (``static/forms.js`` does that): asgi-csrf
0.11 cannot read multipart bodies with python-multipart ≥ 0.0.26 (simonw/asgi-csrf#38), so a
cookie-authenticated multipart post without the header is refused here with a clear message.
"""

from __future__ import annotations

from asgi_csrf import asgi_csrf
from starlette.types import ASGIApp, Receive, Scope, Send

from librarylab.problems import MEDIA_TYPE, ProblemDetails

# A person posting a form without a session yet (the login form) is protected too.
ALWAYS_PROTECT = {"/login"}


async def _refuse(scope: Scope, send: Send, _message_id: object) -> None:
    if scope["path"].startswith("/api/"):
        body = (
            ProblemDetails(
                title="Forbidden",
                status=403,
                detail="CSRF check failed: send the x-csrftoken header or a bearer token.",
            )
            .model_dump_json()
            .encode()
        )
        content_type = MEDIA_TYPE.encode()
    else:
        body = (
            b"<!doctype html><meta charset=utf-8><title>403</title>"
            b"<p>Das Formular ist abgelaufen. Bitte Seite neu laden und erneut senden.</p>"
            b"<p>The form has expired. Please reload the page and send it again.</p>"
        )
        content_type = b"text/html; charset=utf-8"
    await send(
        {"type": "http.response.start", "status": 403, "headers": [(b"content-type", content_type)]}
    )
    await send({"type": "http.response.body", "body": body})


class CSRFMiddleware:
    """Wraps asgi-csrf so that it only sees HTTP requests (not lifespan or websockets)."""

    def __init__(self, app: ASGIApp, signing_secret: str, cookie_secure: bool = False) -> None:
        self.app = app
        self.protected = asgi_csrf(
            app,
            signing_secret=signing_secret,
            always_protect=ALWAYS_PROTECT,
            cookie_secure=cookie_secure,
            cookie_samesite="Lax",
            send_csrf_failed=_refuse,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if (
            headers.get(b"content-type", b"").startswith(b"multipart/form-data")
            and b"cookie" in headers
            and b"x-csrftoken" not in headers
            and not headers.get(b"authorization", b"").startswith(b"Bearer ")
        ):
            await _refuse(scope, send, None)
            return
        await self.protected(scope, receive, send)
