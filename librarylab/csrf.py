"""CSRF protection for cookie-authenticated requests (asgi-csrf, bound to the login).

Form posts carry a hidden ``csrftoken`` field; scripts using the session cookie send the
``x-csrftoken`` header; requests with ``Authorization: Bearer`` need neither.

asgi-csrf compares the sent token with its ``csrftoken`` cookie, and accepts any cookie it
once signed: a cookie and token taken from another browser and planted in the victim's
cookies would pass. So for a browser with a login the token is derived from the login's
secret (in the signed session cookie, which SessionMiddleware has read by now) and handed to
asgi-csrf as that cookie; the ``csrftoken`` cookie the browser sent is ignored, and corrected
in the answer (scripts may read it). Without a login, on the login form, the plain double
submit stays: a planted pair could only log the victim into the planter's account, and a
planted session cookie does that anyway.

Upload forms (multipart) send the token in the header (``static/forms.js`` does that):
asgi-csrf 0.11 cannot read multipart bodies with python-multipart ≥ 0.0.26
(simonw/asgi-csrf#38), so a cookie-authenticated multipart post is judged here, by its
header alone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from asgi_csrf import asgi_csrf
from itsdangerous import BadSignature
from itsdangerous.url_safe import URLSafeSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from librarylab.accounts.sessions import COOKIE_KEY
from librarylab.problems import MEDIA_TYPE, ProblemDetails

# A person posting a form without a session yet (the login form) is protected too.
ALWAYS_PROTECT = {"/login", "/request"}
# The same for public forms under these paths (a personal link's secret is part of the path).
ALWAYS_PROTECT_UNDER = ("/posts/", "/request/confirm/", "/invite/")
COOKIE = "csrftoken"  # asgi-csrf's cookie name and signing namespace
HEADER = b"x-csrftoken"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}  # asgi-csrf checks all others
PASSED = "librarylab.csrf_passed"  # in the scope: asgi-csrf let the request through

Headers = list[tuple[bytes, bytes]]


async def _refuse(scope: Scope, send: Send, _message_id: object) -> None:
    if scope["path"].startswith("/api/"):
        body = (
            ProblemDetails(
                title="Forbidden",
                status=403,
                detail="CSRF check failed: send the x-csrftoken header with this login's token "
                "(the csrftoken field of its pages), or a bearer token.",
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


def _cookie_pairs(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    pairs = []
    for name, value in headers:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, content = part.partition("=")
                if key.strip():
                    pairs.append((key.strip(), content.strip()))
    return pairs


def _with_token_cookie(headers: Headers, token: str) -> Headers:
    """``headers`` whose only ``csrftoken`` cookie is ``token`` (first, so that a broken
    cookie further on cannot hide it from asgi-csrf's parser)."""
    others = [f"{k}={v}" for k, v in _cookie_pairs(headers) if k != COOKIE]
    cookie = "; ".join([f"{COOKIE}={token}", *others]).encode("latin-1")
    return [(k, v) for k, v in headers if k != b"cookie"] + [(b"cookie", cookie)]


class _Protected:
    """The paths asgi-csrf checks even without cookies: it asks ``path in always_protect``."""

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and (
            path in ALWAYS_PROTECT or path.startswith(ALWAYS_PROTECT_UNDER)
        )


class CSRFMiddleware:
    """Wraps asgi-csrf: only HTTP requests, the token bound to the login, multipart by
    header."""

    def __init__(self, app: ASGIApp, signing_secret: str, cookie_secure: bool = False) -> None:
        self.app = app
        self.key = signing_secret.encode("utf-8")
        self.signer = URLSafeSerializer(signing_secret)  # as asgi-csrf signs its cookie
        self.cookie_secure = cookie_secure
        self.protected = asgi_csrf(
            self._passed,
            signing_secret=signing_secret,
            always_protect=_Protected(),
            cookie_secure=cookie_secure,
            cookie_samesite="Lax",
            send_csrf_failed=_refuse,
        )

    def login_token(self, scope: Scope) -> str | None:
        """The token of the browser's login, or None without one."""
        secret = (scope.get("session") or {}).get(COOKIE_KEY)
        if not isinstance(secret, str):
            return None
        bound = hmac.new(self.key, b"csrf:" + secret.encode("utf-8"), hashlib.sha256)
        return str(self.signer.dumps(bound.hexdigest(), salt=COOKIE))

    def _cookie_token(self, headers: Headers) -> str | None:
        """The browser's ``csrftoken`` cookie, if asgi-csrf signed it."""
        value = dict(_cookie_pairs(headers)).get(COOKIE)
        if value is None:
            return None
        try:
            self.signer.loads(value, salt=COOKIE)
        except BadSignature:
            return None
        return value

    async def _passed(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[PASSED].append(True)
        await self.app(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = {**scope, PASSED: []}
        headers: Headers = list(scope.get("headers") or [])
        sent_cookie = self._cookie_token(headers)
        token = self.login_token(scope)
        if token is not None:
            scope = {**scope, "headers": _with_token_cookie(headers, token)}
        send = self._correcting(scope, send, sent_cookie)
        if scope["method"] not in SAFE_METHODS and self._unreadable(headers):
            sent = dict(headers).get(HEADER, b"")
            expected = token or sent_cookie
            if expected is None or not secrets.compare_digest(sent, expected.encode()):
                await _refuse(scope, send, None)
                return
        try:
            await self.protected(scope, receive, send)
        except (TypeError, ValueError):
            # asgi-csrf compares text with secrets.compare_digest, which raises on non-ASCII
            # (and its form parsing on bytes that are not UTF-8): a token it cannot read is
            # a wrong one, not a server error. Errors of the app itself pass on.
            if scope[PASSED]:
                raise
            await _refuse(scope, send, None)

    @staticmethod
    def _unreadable(headers: Headers) -> bool:
        """A cookie-authenticated multipart write, whose token only the header can carry."""
        named = dict(headers)
        return (
            named.get(b"content-type", b"").startswith(b"multipart/form-data")
            and b"cookie" in named
            and not named.get(b"authorization", b"").startswith(b"Bearer ")
        )

    def _correcting(self, scope: Scope, send: Send, sent_cookie: str | None) -> Send:
        """``send``, with the ``csrftoken`` cookie set to the login's token (of the login
        the request ends with: it may have logged in) when the browser holds another."""
        static = scope["path"].startswith("/static/")

        async def corrected(message: Message) -> None:
            # Not on static files: a shared cache might keep them, cookie and all.
            if message["type"] == "http.response.start" and not static:
                token = self.login_token(scope)
                if token is not None and token != sent_cookie:
                    attributes = f"{COOKIE}={token}; Path=/; SameSite=Lax"
                    if self.cookie_secure:
                        attributes += "; Secure"
                    headers = [*message.get("headers", []), (b"set-cookie", attributes.encode())]
                    message = {**message, "headers": headers}
            await send(message)

        return corrected
