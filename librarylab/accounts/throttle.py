"""Login throttling: failed logins are counted per account name and per client address,
and a subject that failed too often is locked for a while that doubles with each further
failure.

The rule (:func:`after_failure`) is pure, with "now" as an argument. :class:`Throttle`
keeps the counts in the ``login_throttle`` table, so that every instance on one database
shares them, and counts an attempt *before* its password is checked, in one locked
transaction: many parallel guesses cannot all slip through between a check and a count.
A success gives the attempt back and clears the account's count.

Unknown account names are counted like real ones, so a lock does not reveal which names
exist. Audit lines go to the ``librarylab.audit`` logger: name and address, never a
password.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from librarylab import logs
from librarylab.accounts.orm import LoginThrottle

audit = logging.getLogger("librarylab.audit")


@dataclass(frozen=True)
class Policy:
    """How many failures a subject is allowed before it is locked, and for how long."""

    free_failures: int
    first_lock: timedelta = timedelta(seconds=2)
    longest_lock: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=12)  # a quiet subject starts afresh


# An account is locked after 5 failures in a row; an address, which may be shared by a
# whole library behind one router, after 20.
ACCOUNT = Policy(free_failures=5)
ADDRESS = Policy(free_failures=20)


@dataclass(frozen=True)
class Count:
    """A subject's failures after one more, and until when it is locked (None: not)."""

    failures: int
    blocked_until: datetime | None


def after_failure(
    policy: Policy, failures: int, last_failure_at: datetime | None, now: datetime
) -> Count:
    """The count after one more failure at ``now``: from the ``free_failures``-th failure on,
    the subject is locked for ``first_lock``, doubled with every further one, at most
    ``longest_lock``. Failures older than ``forget_after`` no longer count."""
    if last_failure_at is None or now - last_failure_at > policy.forget_after:
        failures = 0
    failures += 1
    if failures < policy.free_failures:
        return Count(failures, None)
    doublings = min(failures - policy.free_failures, 32)  # 2**32 s is past any cap
    lock = min(policy.first_lock * 2**doublings, policy.longest_lock)
    return Count(failures, now + lock)


def retry_after(blocked_until: datetime | None, now: datetime) -> int | None:
    """Whole seconds until ``blocked_until`` (at least 1), or None when it has passed."""
    if blocked_until is None or blocked_until <= now:
        return None
    return max(1, math.ceil((blocked_until - now).total_seconds()))


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Attempt:
    """One login attempt as the throttle saw it: refused (``retry_after`` seconds to wait),
    or admitted and counted, with the locks it sets should the password be wrong."""

    name: str
    address: str
    retry_after: int | None = None
    locks: dict[str, datetime] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return self.retry_after is not None


def account_subject(name: str) -> str:
    return "account:" + name.strip()[:160]  # longer names cannot exist (80 at most)


def address_subject(address: str) -> str:
    return "address:" + address[:160]


class Throttle:
    """Counts login attempts in the database; the clock and policies can be replaced."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = _now,
        account: Policy = ACCOUNT,
        address: Policy = ADDRESS,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.policies = {"account": account, "address": address}
        self._refusals = logs.Throttle(interval=60.0)  # refused attempts cost nothing: cap lines

    def admit(self, name: str, address: str) -> Attempt:
        """Refuse the attempt while the account or the address is locked; else count it as a
        failure until :meth:`succeeded` says otherwise."""
        now = self.clock()
        subjects = sorted({account_subject(name), address_subject(address)})
        with self.sessions() as session:
            # A locked subject is refused by a plain read: hammering it writes nothing.
            known = session.scalars(
                select(LoginThrottle.blocked_until).where(LoginThrottle.subject.in_(subjects))
            ).all()
            if refused := self._refused(name, address, known, now):
                return refused
            session.rollback()  # the counting transaction starts with a write (SQLite)
            rows = [locked_row(session, subject, now) for subject in subjects]
            if refused := self._refused(name, address, [r.blocked_until for r in rows], now):
                session.rollback()
                return refused
            locks = {}
            for row in rows:
                count = after_failure(
                    self._policy(row.subject), row.failures, row.last_failure_at, now
                )
                row.failures, row.last_failure_at = count.failures, now
                row.blocked_until = count.blocked_until
                if count.blocked_until is not None:
                    locks[row.subject] = count.blocked_until
            forget_after = max(policy.forget_after for policy in self.policies.values())
            _forget_quiet_subjects(session, now - forget_after, now)
            session.commit()
        return Attempt(name, address, locks=locks)

    def _refused(
        self, name: str, address: str, locks: Sequence[datetime | None], now: datetime
    ) -> Attempt | None:
        waits = [w for until in locks if (w := retry_after(until, now)) is not None]
        if not waits:
            return None
        attempt = Attempt(name, address, retry_after=max(waits))
        self._refusals.warn(
            audit,
            account_subject(name),
            f"login refused while locked: account {logs.shown(name)} "
            f"from {address}, {attempt.retry_after} s to wait",
        )
        return attempt

    def failed(self, attempt: Attempt) -> None:
        """Write the audit lines of a wrong password (the attempt is counted already)."""
        audit.warning("login failed: account %s from %s", logs.shown(attempt.name), attempt.address)
        for subject, until in attempt.locks.items():
            audit.warning("login locked: %s until %s", logs.shown(subject), until.isoformat())

    def succeeded(self, attempt: Attempt) -> None:
        """Clear the account's count and give the address its attempt back."""
        now = self.clock()
        with self.sessions() as session:
            session.execute(
                delete(LoginThrottle).where(LoginThrottle.subject == account_subject(attempt.name))
            )
            row = session.scalars(
                select(LoginThrottle)
                .where(LoginThrottle.subject == address_subject(attempt.address))
                .with_for_update()
            ).one_or_none()
            if row is not None:
                row.failures = max(0, row.failures - 1)
                if row.failures < self.policies["address"].free_failures and (
                    retry_after(row.blocked_until, now) is not None
                ):
                    row.blocked_until = None  # the lock this very attempt had set
            session.commit()
        audit.info("login succeeded: account %s from %s", logs.shown(attempt.name), attempt.address)

    def _policy(self, subject: str) -> Policy:
        return self.policies[subject.partition(":")[0]]


def locked_row(session: Session, subject: str, now: datetime) -> LoginThrottle:
    """The subject's row, created when missing and locked until the transaction ends (on
    SQLite the insert takes the database's write lock, which serves the same end)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(LoginThrottle)
        .values(subject=subject, failures=0, last_failure_at=now, blocked_until=None)
        .on_conflict_do_nothing(index_elements=[LoginThrottle.subject])
    )
    return session.scalars(
        select(LoginThrottle).where(LoginThrottle.subject == subject).with_for_update()
    ).one()


def show_audit_lines() -> None:
    """Write the audit lines, successes too, to stderr beside uvicorn's (``serve``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s audit: %(message)s"))
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    audit.propagate = False


def _forget_quiet_subjects(session: Session, quiet_since: datetime, now: datetime) -> None:
    """Delete the counts nobody added to since ``quiet_since``; rows that another login
    holds are skipped, not waited for (no lock cycle with it)."""
    quiet = (
        select(LoginThrottle.subject)
        .where(
            LoginThrottle.last_failure_at < quiet_since,
            or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now),
        )
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(LoginThrottle).where(LoginThrottle.subject.in_(quiet)))


def client_address(request: Request) -> str:
    """The peer's address; behind a proxy, uvicorn puts the client's there only when it
    trusts the proxy (``--forwarded-allow-ips``)."""
    return request.client.host if request.client else "unknown"


def get_throttle(request: Request) -> Throttle:
    """The app's throttle, made on first use (tests replace it to set the clock)."""
    throttle: Throttle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = request.app.state.login_throttle = Throttle(request.app.state.sessions)
    return throttle


ThrottleDep = Annotated[Throttle, Depends(get_throttle)]
