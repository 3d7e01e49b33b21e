"""Account rules: password hashing, tokens, the first admin. Takes a session; never commits."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from librarylab.accounts.orm import ApiToken, DisplayToken, Role, TokenScope, User
from librarylab.accounts.sessions import end_logins, secret_digest
from librarylab.errors import Conflict, InvalidInput, NotFound

MIN_PASSWORD_LENGTH = 10
INITIAL_ADMIN = "admin"

_hasher = PasswordHasher()


def _lower_priority() -> None:
    """Argon2 is meant to be costly: run it below the rest of the service, so that login
    attempts cannot starve other requests of CPU (on Linux a thread's nice value is its
    own, and the lane threads argon2 starts inherit it)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


# Hashing runs off the event loop (page handlers are plain functions, and argon2 releases
# the GIL) and, on these two threads, at a lower priority.
_hashing = ThreadPoolExecutor(2, thread_name_prefix="argon2", initializer=_lower_priority)
# Verifying against this keeps the time of a login with an unknown name like a real one.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True)
class NewToken:
    """A freshly created token: ``secret`` is shown once and never stored."""

    id: int
    secret: str


def _now() -> datetime:
    return datetime.now(UTC)


def hash_password(password: str) -> str:
    """An Argon2id hash (deliberately slow: ~0.1 s)."""
    return _hashing.submit(_hasher.hash, password).result()


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            "The password is too short: use at least {limit} characters.",
            "password",
            limit=MIN_PASSWORD_LENGTH,
        )


def find_user(session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == name)).one_or_none()


def get_user(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None:
        raise NotFound(
            "There is no account named '{name}': create it with 'librarylab user add {name}'.",
            name=name,
        )
    return user


def create_user(
    session: Session,
    name: str,
    password: str,
    role: Role,
    *,
    must_change_password: bool = False,
    password_hash: str | None = None,
) -> User:
    """A new active account; ``password_hash`` may carry a hash made earlier for ``password``."""
    name = name.strip()
    if not name or len(name) > 80:
        raise InvalidInput("The account name must be 1 to 80 characters.", "name")
    check_password_rules(password)
    if find_user(session, name) is not None:
        raise Conflict("An account named '{name}' already exists.", "name", name=name)
    user = User(
        name=name,
        role=role,
        password_hash=password_hash or hash_password(password),
        must_change_password=must_change_password,
        active=True,
        created_at=_now(),
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> int:
    """Set a new password and end every login of the account (a copied session cookie must
    not outlive the password it was opened with); how many logins ended."""
    check_password_rules(password)
    user.password_hash = hash_password(password)
    user.must_change_password = False
    return end_logins(session, user, _now())


def set_active(session: Session, name: str, active: bool) -> int:
    """Let an account log in again, or stop it: its logins end and its tokens stop working
    (they come back with the account); how many logins ended."""
    user = get_user(session, name)
    user.active = active
    return 0 if active else end_logins(session, user, _now())


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The active user with this name and password, or None."""
    user = find_user(session, name.strip())
    if user is None or not user.active:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _verify(password_hash: str, password: str) -> bool:
    return _hashing.submit(_verify_here, password_hash, password).result()


def _verify_here(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_token(
    session: Session, user: User, label: str = "", scope: TokenScope = TokenScope.API
) -> NewToken:
    """An API token, or with ``TokenScope.CALENDAR`` one that opens the calendar feed alone
    (calendar services store it in a URL)."""
    prefix = "cal_" if scope is TokenScope.CALENDAR else "ll_"
    secret = prefix + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, label=label, scope=scope, digest=secret_digest(secret), created_at=_now()
    )
    session.add(token)
    session.flush()
    return NewToken(id=token.id, secret=secret)


def user_for_token(
    session: Session, secret: str, scope: TokenScope = TokenScope.API
) -> User | None:
    """The active owner of an unrevoked token of ``scope``, or None."""
    token = session.scalars(
        select(ApiToken).where(
            ApiToken.digest == secret_digest(secret),
            ApiToken.scope == scope,
            ApiToken.revoked_at.is_(None),
        )
    ).one_or_none()
    if token is None or not token.user.active:
        return None
    return token.user


def list_tokens(session: Session, name: str | None = None) -> Sequence[ApiToken]:
    query = select(ApiToken).join(User).order_by(ApiToken.id)
    if name is not None:
        query = query.where(User.name == get_user(session, name).name)
    return session.scalars(query).all()


def revoke_token(session: Session, token_id: int) -> None:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("There is no token with id {id}.", id=token_id)
    token.revoked_at = token.revoked_at or _now()


def calendar_tokens(session: Session, user: User) -> Sequence[ApiToken]:
    """``user``'s calendar links, oldest first."""
    return session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.scope == TokenScope.CALENDAR)
        .order_by(ApiToken.id)
    ).all()


def revoke_calendar_token(session: Session, user: User, token_id: int) -> None:
    """Revoke one of ``user``'s own calendar links (staff manage nothing else here)."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.scope is not TokenScope.CALENDAR:
        raise NotFound("You have no calendar link with id {id}.", id=token_id)
    token.revoked_at = token.revoked_at or _now()


def ensure_initial_admin(session: Session) -> str | None:
    """Create the first admin when there are no accounts; return its one-time password."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, INITIAL_ADMIN, password, Role.ADMIN, must_change_password=True)
    return password


def create_display_token(session: Session, name: str) -> NewToken:
    """A read-only wall link; ``secret`` goes into ``/wall?token=``."""
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("Name the screen (1 to 120 characters), e.g. 'Foyer'.", "name")
    secret = "wall_" + secrets.token_urlsafe(24)
    token = DisplayToken(name=name, digest=secret_digest(secret), created_at=_now())
    session.add(token)
    session.flush()
    return NewToken(id=token.id, secret=secret)


def list_display_tokens(session: Session) -> Sequence[DisplayToken]:
    return session.scalars(select(DisplayToken).order_by(DisplayToken.id)).all()


def display_token_valid(session: Session, secret: str) -> bool:
    return (
        session.scalars(
            select(DisplayToken.id).where(
                DisplayToken.digest == secret_digest(secret), DisplayToken.revoked_at.is_(None)
            )
        ).first()
        is not None
    )


def revoke_display_token(session: Session, token_id: int) -> None:
    token = session.get(DisplayToken, token_id)
    if token is None:
        raise NotFound("There is no display link with id {id}.", id=token_id)
    token.revoked_at = token.revoked_at or _now()
