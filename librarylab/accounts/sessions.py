"""Server-side login sessions: the cookie carries a random secret, the database its digest.

A signed cookie alone cannot be taken back, so a copy would outlive a logout or a new
password; a row can be ended, and every instance on the database sees that at once.
Takes a session; never commits. "Now" is a parameter.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from librarylab.accounts.orm import LoginSession, User

# The key of the login's secret in the signed session cookie.
COOKIE_KEY = "login"
# Ended and expired rows are kept this long (to tell "ended" from "unknown" while
# debugging), then deleted by the next login.
KEEP_ENDED = timedelta(days=1)


@dataclass(frozen=True)
class NewLogin:
    """A login just started: ``secret`` goes into the cookie and is never stored."""

    id: int
    secret: str


def secret_digest(secret: str) -> str:
    """What is stored of a login secret or a token: its SHA-256, never the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _running(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return LoginSession.ended_at.is_(None), LoginSession.expires_at > now


def start_login(session: Session, user: User, now: datetime, lifetime: timedelta) -> NewLogin:
    """A new login for ``user``, valid for ``lifetime`` from ``now`` (not extended by use)."""
    secret = secrets.token_urlsafe(32)
    login = LoginSession(
        user_id=user.id, digest=secret_digest(secret), created_at=now, expires_at=now + lifetime
    )
    session.add(login)
    session.flush()
    return NewLogin(id=login.id, secret=secret)


def find_login(session: Session, secret: str, now: datetime) -> tuple[LoginSession, User] | None:
    """The login behind ``secret`` and its user, if the login is neither ended nor expired
    and the account is active."""
    row = session.execute(
        select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.digest == secret_digest(secret), User.active.is_(True), *_running(now))
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def end_login(session: Session, secret: str, now: datetime) -> None:
    """End the login behind ``secret`` (nothing happens if it is unknown or over)."""
    session.execute(
        update(LoginSession)
        .where(LoginSession.digest == secret_digest(secret), LoginSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def end_logins(session: Session, user: User, now: datetime, *, keep: int | None = None) -> int:
    """End every running login of ``user`` except the one with id ``keep``; how many ended."""
    query = (
        update(LoginSession)
        .where(LoginSession.user_id == user.id, *_running(now))
        .values(ended_at=now)
    )
    if keep is not None:
        query = query.where(LoginSession.id != keep)
    ended: int = session.execute(query).rowcount  # type: ignore[attr-defined]
    return ended


def count_logins(session: Session, user: User, now: datetime, *, besides: int | None) -> int:
    """How many logins of ``user`` run, not counting the one with id ``besides``."""
    query = select(func.count()).where(LoginSession.user_id == user.id, *_running(now))
    if besides is not None:
        query = query.where(LoginSession.id != besides)
    return session.scalar(query) or 0


def purge_logins(session: Session, now: datetime) -> None:
    """Delete logins that ended or expired more than :data:`KEEP_ENDED` ago."""
    cutoff = now - KEEP_ENDED
    session.execute(
        delete(LoginSession).where(
            or_(LoginSession.expires_at < cutoff, LoginSession.ended_at < cutoff)
        )
    )


def running_logins(session: Session, now: datetime) -> dict[int, int]:
    """Per account id, how many of its browser logins run (accounts without any are left out)."""
    rows = session.execute(
        select(LoginSession.user_id, func.count())
        .where(*_running(now))
        .group_by(LoginSession.user_id)
    ).all()
    return {int(user_id): int(count) for user_id, count in rows}
