"""Secrets never reach a log line."""

from __future__ import annotations

import logging

import pytest

from librarylab.logs import RedactSecrets, redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/api/visits.ics?token=ll_abc123", "/api/visits.ics?token=***"),
        ("/wall?lang=en&token=ll_x-y_z&x=1", "/wall?lang=en&token=***&x=1"),
        ("/api/visits?round=token", "/api/visits?round=token"),
        ("/login?next=/visits", "/login?next=/visits"),
    ],
)
def test_tokens_in_query_strings_are_masked(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_access_log_records_keep_their_shape_but_lose_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.access")
    logger.addFilter(RedactSecrets())
    with caplog.at_level(logging.INFO, logger="test.access"):
        logger.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5",
            "GET",
            "/api/visits.ics?token=ll_secret",
            "1.1",
            200,
        )
    assert "ll_secret" not in caplog.text
    assert '/api/visits.ics?token=*** HTTP/1.1" 200' in caplog.text
