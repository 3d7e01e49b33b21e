"""Logging that never writes a secret: tokens in query strings are masked."""

from __future__ import annotations

import logging
import re

_SECRET_QUERY = re.compile(r"(?<=[?&])(token|api_key|apikey|password)=[^&\s\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``/api/visits.ics?token=ll_abc&round=1`` → ``/api/visits.ics?token=***&round=1``."""
    return _SECRET_QUERY.sub(lambda match: f"{match.group(1)}=***", text)


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
