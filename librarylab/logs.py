"""Logging that never writes a secret (tokens in query strings are masked) and is not
flooded by what strangers send (``Throttle``)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

_SECRET_QUERY = re.compile(r"(?<=[?&])(token|api_key|apikey|password)=[^&\s\"]*", re.IGNORECASE)
# Links from mail carry their secret in the path: a visit request's opt-in link, and a
# library's personal post link.
_SECRET_PATH = re.compile(r"(?:(?<=/request/confirm/)|(?<=/posts/))[^/?#\s\"]+")


def redact(text: str) -> str:
    """``/api/visits.ics?token=ll_abc&round=1`` → ``/api/visits.ics?token=***&round=1``;
    ``/request/confirm/abc`` → ``/request/confirm/***``; ``/posts/12.abc`` → ``/posts/***``."""
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
