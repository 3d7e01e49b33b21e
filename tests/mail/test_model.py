"""The outbox's pure rules, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mail.model import MAX_ATTEMPTS, Failure, MailState, after_failure, header_problem, retry_delay

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [
        (1, timedelta(seconds=30)),
        (2, timedelta(seconds=60)),
        (3, timedelta(minutes=2)),
        (7, timedelta(minutes=32)),
        (8, timedelta(hours=1)),
        (50, timedelta(hours=1)),
    ],
)
def test_retries_back_off_doubling_up_to_an_hour(attempt: int, delay: timedelta) -> None:
    assert retry_delay(attempt) == delay


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        retry_delay(0)


@pytest.mark.parametrize(
    ("attempt", "failure", "state", "next_at"),
    [
        (
            1,
            Failure("SMTP server unreachable (ConnectionRefusedError)"),
            MailState.QUEUED,
            NOW + timedelta(seconds=30),
        ),
        (3, Failure("busy", 451), MailState.QUEUED, NOW + timedelta(minutes=2)),
        (1, Failure("recipient refused", 550), MailState.FAILED, None),
        (MAX_ATTEMPTS - 1, Failure("busy", 421), MailState.QUEUED, NOW + timedelta(minutes=32)),
        (MAX_ATTEMPTS, Failure("busy", 421), MailState.FAILED, None),
    ],
)
def test_a_failed_attempt_is_retried_unless_permanent_or_the_last(
    attempt: int, failure: Failure, state: MailState, next_at: datetime | None
) -> None:
    outcome = after_failure(attempt, failure, NOW)
    assert (outcome.state, outcome.next_attempt_at) == (state, next_at)


def test_the_reason_names_the_code_and_stays_short() -> None:
    assert Failure("no such mailbox", 550).text == "550 no such mailbox"
    assert len(Failure("x" * 1000, 550).text) == 300


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("Besuch am Dienstag – Änderung", None),
        ("Hi\r\nBcc: victim@example.org", "line break"),
        ("Hi\nBcc: victim@example.org", "line break"),
        ("Hi\x00there", "control character"),
        ("tab\there", "control character"),
    ],
)
def test_headers_are_one_line_of_printable_text(value: str, problem: str | None) -> None:
    assert header_problem(value) == problem
