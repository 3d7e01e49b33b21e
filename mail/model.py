"""The outbox's rules: states, when to try again, and what a header may contain.

Pure: no database, SMTP, clock or settings; "now" comes in as an argument.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

# After this many attempts a mail that still does not go out is marked failed.
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
# A claimed mail is someone's for this long; after it (the instance died mid-send) any
# instance may take it again. Far longer than one SMTP conversation with its timeouts.
LEASE = timedelta(minutes=5)
MAX_SUBJECT_LENGTH = 300
MAX_REASON_LENGTH = 300


class MailState(enum.StrEnum):
    QUEUED = "queued"  # waiting for its first or next attempt
    SENDING = "sending"  # claimed by a sender until its lease ends
    SENT = "sent"  # the SMTP server accepted it
    FAILED = "failed"  # refused for good or out of attempts; staff may send it again


def retry_delay(attempt: int) -> timedelta:
    """How long to wait after failed attempt number ``attempt`` (1-based): doubling from
    30 seconds, never more than an hour."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    delay: timedelta = FIRST_RETRY * 2 ** min(attempt - 1, 20)
    return min(delay, LONGEST_RETRY)


@dataclass(frozen=True)
class Failure:
    """Why one attempt did not deliver: an SMTP reply code (None when the server was not
    reached) and a short reason without the mail's body."""

    reason: str
    code: int | None = None

    @property
    def permanent(self) -> bool:
        """A 5xx reply will not change by trying again; anything else may."""
        return self.code is not None and 500 <= self.code < 600

    @property
    def text(self) -> str:
        text = f"{self.code} {self.reason}" if self.code is not None else self.reason
        return text[:MAX_REASON_LENGTH]


@dataclass(frozen=True)
class Outcome:
    """What becomes of a mail after a failed attempt."""

    state: MailState
    next_attempt_at: datetime | None


def after_failure(attempt: int, failure: Failure, now: datetime) -> Outcome:
    """Queue the mail again later, or give up when the refusal is permanent or the
    attempts are spent."""
    if failure.permanent or attempt >= MAX_ATTEMPTS:
        return Outcome(MailState.FAILED, None)
    return Outcome(MailState.QUEUED, now + retry_delay(attempt))


def header_problem(value: str) -> str | None:
    """Why ``value`` cannot be a header: line breaks would start new headers (injection)."""
    if any(c in value for c in "\r\n"):
        return "line break"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "control character"
    return None
