"""Request bodies are bounded per route before anything reads them.

A ``Content-Length`` above the route's limit is answered 413 at once, unread. A body that
comes without one (chunked) is counted while it streams and cut off with 413 as soon as it
passes the limit. This sits outside the CSRF check, which buffers a whole urlencoded body
to look for its token, and outside every parser: nothing behind it sees more than the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from librarylab.errors import Problem, TooLarge
from librarylab.problems import domain_problem

# Forms and JSON. The largest the API's rules allow is a plan request naming 200 people
# with names of 120 characters: about 160 KB if every character travels escaped (\u00fc);
# real ones are a few KB, a visit with 4000 characters of notes at most 24 KB.
FORM_MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class BodyLimit:
    """The most a route takes, and what the refusal says."""

    max_bytes: int
    refusal: Problem


FORMS = BodyLimit(
    FORM_MAX_BYTES,
    Problem("body", "The request is larger than {limit} KB.", {"limit": FORM_MAX_BYTES // 1024}),
)


class BodyTooLarge(Exception):
    """Raised into the app from ``receive`` once the 413 has gone out."""


class BodyLimitMiddleware:
    """Bounds every HTTP request body: ``routes`` by (method, path), the rest by ``default``."""

    def __init__(
        self,
        app: ASGIApp,
        routes: Mapping[tuple[str, str], BodyLimit] | None = None,
        default: BodyLimit = FORMS,
    ) -> None:
        self.app = app
        self.routes = dict(routes or {})
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get((scope["method"], scope["path"]), self.default)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit.max_bytes:
            await _refuse(scope, send, limit)
            return

        received = 0
        started = refused = False

        async def counted() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    if not started:
                        await _refuse(scope, send, limit)
                    refused = True
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; whatever the app answers instead is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            # The app may turn BodyTooLarge into an error of its own (FastAPI: 400).
            if not refused:
                raise


async def _refuse(scope: Scope, send: Send, limit: BodyLimit) -> None:
    request = Request(scope)
    response = domain_problem(request, TooLarge.from_problem(limit.refusal))
    response.headers["Connection"] = "close"  # the rest of the body is not read
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
