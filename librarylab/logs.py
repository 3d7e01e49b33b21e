"""Logging that never writes a secret (tokens in query strings are masked) and is not
flooded by what strangers send (``Throttle``); with ``LIBRARYLAB_LOG_FORMAT=json`` one JSON
object per line, carrying the id of the request it belongs to (``RequestIdMiddleware``)."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SECRET_QUERY = re.compile(r"(?<=[?&])(token|api_key|apikey|password)=[^&\s\"]*", re.IGNORECASE)
# Links from mail carry their secret in the path: a visit request's opt-in link, a
# library's personal post link, and a staff member's one-time invitation link.
_SECRET_PATH = re.compile(r"(?:(?<=/request/confirm/)|(?<=/posts/)|(?<=/invite/))[^/?#\s\"]+")


def redact(text: str) -> str:
    """``/api/visits.ics?token=ll_abc&round=1`` → ``/api/visits.ics?token=***&round=1``;
    ``/request/confirm/abc`` → ``/request/confirm/***``; ``/posts/12.abc`` → ``/posts/***``;
    ``/invite/abc`` → ``/invite/***``."""
    text = _SECRET_QUERY.sub(lambda match: f"{match.group(1)}=***", text)
    return _SECRET_PATH.sub("***", text)


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message and arguments (e.g. uvicorn's access log lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
REQUEST_ID_HEADER = "x-request-id"
# A proxy's id is kept when it is a plain short token; anything else could forge log lines.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestIdMiddleware:
    """Gives each request an id (the caller's ``X-Request-ID`` if sane, else a new one),
    for every log line written while it is answered, and echoes it in the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == REQUEST_ID_HEADER.encode()),
            "",
        )
        request_id = given if _SANE_REQUEST_ID.fullmatch(given) else secrets.token_hex(8)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, sending)
        finally:
            REQUEST_ID.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (masked), request id."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": REQUEST_ID.get(),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def uvicorn_log_config(log_format: Literal["text", "json"]) -> dict[str, Any] | None:
    """uvicorn's ``log_config`` for ``log_format``; None: keep uvicorn's own (text)."""
    if log_format == "text":
        return None
    handler = {"class": "logging.StreamHandler", "formatter": "json"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "stderr": {**handler, "stream": "ext://sys.stderr"},
            "stdout": {**handler, "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
    }


def install(*logger_names: str) -> None:
    for name in logger_names:
        logging.getLogger(name).addFilter(RedactSecrets())


class Throttle:
    """Lets a warning about one key through at most once per ``interval`` seconds.

    For messages anyone on the broker can cause: a flood must not flood the log. At most
    ``keys`` keys are remembered; beyond that they share one.
    """

    def __init__(
        self,
        interval: float = 60.0,
        keys: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.keys = keys
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        """How many warnings about ``key`` were held back since the last one, or None when
        this one should be held back too."""
        if key not in self._last and len(self._last) >= self.keys:
            key = "(other)"
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)

    def warn(self, logger: logging.Logger, key: str, text: str) -> None:
        """Log ``text`` as a warning about ``key`` unless ``allow`` holds it back; say how
        many were held back since the last one."""
        held = self.allow(key)
        if held is not None:
            logger.warning("%s%s", text, f"; {held} more since the last warning" if held else "")


def shown(text: str, limit: int = 120) -> str:
    """Text that someone else chose (a topic), safe for one log line: quoted and cut short."""
    return repr(text[:limit] + ("…" if len(text) > limit else ""))
