"""How often the public request form may be used: per client address and per e-mail
address, counted in fixed windows in the ``login_throttle`` table (shared by every instance
on one database), under subjects of their own.

An e-mail address is kept there only as a keyed digest (HMAC with the app's secret key), so
the table never holds an address. A subject's row is locked until the caller's transaction
ends: parallel requests cannot all read the same count and slip through together.

Rows of request subjects use the table's columns like this: ``failures`` counts the requests
of the window, ``last_failure_at`` is when the window started, and ``blocked_until`` when it
ends (so the login throttle's clean-up keeps the row until then).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from librarylab.accounts.orm import LoginThrottle
from librarylab.accounts.throttle import locked_row


@dataclass(frozen=True)
class Window:
    """At most ``requests`` in each ``length``."""

    requests: int
    length: timedelta


# A library behind one router sends a handful a day at most; a victim's inbox gets at most
# three opt-in mails a day however many strangers type its address.
PER_ADDRESS = Window(requests=5, length=timedelta(hours=1))
PER_EMAIL = Window(requests=3, length=timedelta(days=1))

ADDRESS_PREFIX = "request-address:"
EMAIL_PREFIX = "request-email:"


def address_subject(address: str) -> str:
    return ADDRESS_PREFIX + address[:160]


def email_subject(email: str, key: str) -> str:
    """The subject of an e-mail address: a keyed digest, never the address."""
    digest = hmac.new(key.encode(), email.strip().lower().encode(), hashlib.sha256)
    return EMAIL_PREFIX + digest.hexdigest()


def count(session: Session, subject: str, window: Window, now: datetime) -> int | None:
    """Count one request of ``subject`` at ``now``; None when it is within the window's limit,
    else the seconds until the window ends (the request is then not counted)."""
    _forget_ended(session, now)
    row = locked_row(session, subject, now)  # a new row has no window yet
    if row.blocked_until is None or row.blocked_until <= now:  # a new window
        row.failures, row.last_failure_at, row.blocked_until = 0, now, now + window.length
    if row.failures >= window.requests:
        return max(1, math.ceil((row.blocked_until - now).total_seconds()))
    row.failures += 1
    session.flush()
    return None


def _forget_ended(session: Session, now: datetime) -> None:
    """Delete request subjects whose window has ended (rows others hold are left alone)."""
    ended = (
        select(LoginThrottle.subject)
        .where(
            LoginThrottle.subject.startswith(ADDRESS_PREFIX)
            | LoginThrottle.subject.startswith(EMAIL_PREFIX),
            LoginThrottle.blocked_until < now,
        )
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(LoginThrottle).where(LoginThrottle.subject.in_(ended)))
