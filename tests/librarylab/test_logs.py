"""Secrets never reach a log line."""

from __future__ import annotations

import logging

import pytest

from librarylab.logs import RedactSecrets, Throttle, redact, shown


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/api/visits.ics?token=ll_abc123", "/api/visits.ics?token=***"),
        ("/wall?lang=en&token=ll_x-y_z&x=1", "/wall?lang=en&token=***&x=1"),
        ("/api/visits?round=token", "/api/visits?round=token"),
        ("/login?next=/visits", "/login?next=/visits"),
        ("/request/confirm/Ab-3_x?lang=en", "/request/confirm/***?lang=en"),
        ("/request/confirm/", "/request/confirm/"),
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


def test_a_throttle_lets_one_warning_a_minute_through_per_key_and_counts_the_rest() -> None:
    clock = [0.0]
    throttle = Throttle(interval=60, keys=2, clock=lambda: clock[0])
    assert throttle.allow("a") == 0
    assert throttle.allow("a") is None
    assert throttle.allow("a") is None
    assert throttle.allow("b") == 0
    assert throttle.allow("c") == 0  # beyond two keys, the rest share one
    assert throttle.allow("d") is None
    clock[0] = 61
    assert throttle.allow("a") == 2


def test_text_from_strangers_is_one_short_quoted_line() -> None:
    assert shown("lab/x\ny") == "'lab/x\\ny'"
    assert len(shown("x" * 10_000)) < 130
