"""Account rules: password hashing, tokens, the first admin, staff administration (one-time
invitation links, roles, the last admin). Takes a session; never commits."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from librarylab.accounts.orm import ApiToken, DisplayToken, Invitation, Role, TokenScope, User
from librarylab.accounts.sessions import end_logins, secret_digest
from librarylab.errors import Conflict, InvalidInput, NotFound, reject_unknown_fields

MIN_PASSWORD_LENGTH = 10
INITIAL_ADMIN = "admin"
MAX_NAME_LENGTH = 80
MAX_EMAIL_LENGTH = 254
MAX_LABEL_LENGTH = 120
# Where a one-time link lets a new account (or one whose password was reset) choose its
# password; the secret follows in the path.
INVITE_PATH = "/invite/"
INVITATION_VALID = timedelta(hours=72)
# Stored instead of a hash until the invitation is used: no password matches it (an
# Argon2 hash never starts with "!").
NO_PASSWORD = "!invited"  # noqa: S105 - a marker, not a password
# Names of accounts made on the pages and the API: they end up in URLs (/users/<name>).
_LETTER = "0-9A-Za-zÀ-ÖØ-öø-ÿ"
NAME_PATTERN = f"^[{_LETTER}][{_LETTER}._@-]*$"
_NAME = re.compile(NAME_PATTERN)

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
class NewInvitation:
    """A fresh one-time link: ``secret`` goes into ``/invite/<secret>`` and is never stored."""

    secret: str
    expires_at: datetime

    @property
    def path(self) -> str:
        return INVITE_PATH + self.secret


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


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.name)).all()


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
    if user is None or not user.active or not password_set(user):
        _verify(_DUMMY_HASH, password)  # as long as a real check: no hint that it exists
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


# --- staff administration ---------------------------------------------------------------


def password_set(user: User) -> bool:
    """False while the account waits for its invitation (new, or its password was reset)."""
    return not user.password_hash.startswith("!")


def check_new_name(name: str) -> str:
    """The name of an account made on the pages or the API (the CLI takes any name)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput("The account name must be 1 to 80 characters.", "name")
    if not _NAME.match(name) or name == "new":
        raise InvalidInput(
            "Use letters, digits and . _ @ - in the account name, starting with a letter or "
            "digit (e.g. 'anna.schmidt').",
            "name",
        )
    return name


def checked_email(email: str | None) -> str | None:
    """A normalised e-mail address, or None for an empty one."""
    email = (email or "").strip()
    if not email:
        return None
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidInput("The e-mail address is longer than 254 characters.", "email")
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvalidInput(
            "'{email}' is not an e-mail address: write it like name@example.org, or leave it "
            "empty.",
            "email",
            email=email,
        ) from None


def add_staff(
    session: Session, name: str, role: Role, email: str | None, *, by: str, now: datetime
) -> tuple[User, NewInvitation]:
    """A new account that cannot log in until its person chooses a password through the
    returned one-time link."""
    name = check_new_name(name)
    email = checked_email(email)
    if find_user(session, name) is not None:
        raise Conflict("An account named '{name}' already exists.", "name", name=name)
    user = User(
        name=name,
        email=email,
        role=role,
        password_hash=NO_PASSWORD,
        must_change_password=False,
        active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user, invite(session, user, by=by, now=now)


def invite(session: Session, user: User, *, by: str, now: datetime) -> NewInvitation:
    """A new one-time link for ``user``, valid for :data:`INVITATION_VALID`; a link sent
    earlier and not used stops working."""
    for earlier in open_invitations_of(session, user, now):
        earlier.expires_at = now
    secret = secrets.token_urlsafe(32)
    invitation = Invitation(
        user_id=user.id,
        digest=secret_digest(secret),
        created_by=by,
        created_at=now,
        expires_at=now + INVITATION_VALID,
    )
    session.add(invitation)
    session.flush()
    return NewInvitation(secret=secret, expires_at=invitation.expires_at)


def open_invitations_of(session: Session, user: User, now: datetime) -> Sequence[Invitation]:
    return session.scalars(
        select(Invitation).where(
            Invitation.user_id == user.id,
            Invitation.used_at.is_(None),
            Invitation.expires_at > now,
        )
    ).all()


def latest_invitations(session: Session) -> dict[int, Invitation]:
    """Per account id, its newest invitation that was not used (it may have expired)."""
    rows = session.scalars(
        select(Invitation).where(Invitation.used_at.is_(None)).order_by(Invitation.id)
    ).all()
    return {row.user_id: row for row in rows}


def reset_password(
    session: Session, user: User, *, by: str, now: datetime
) -> tuple[NewInvitation, int]:
    """The old password stops working and every browser login ends; the person chooses a
    new password through the returned one-time link. API tokens stay (deactivate the
    account to stop them). How many logins ended, too."""
    user.password_hash = NO_PASSWORD
    user.must_change_password = False
    ended = end_logins(session, user, now)
    return invite(session, user, by=by, now=now), ended


def _valid_invitation(
    session: Session, secret: str, now: datetime, *, lock: bool = False
) -> Invitation | None:
    if not secret or len(secret) > 200:
        return None
    query = (
        select(Invitation)
        .join(User, User.id == Invitation.user_id)
        .where(
            Invitation.digest == secret_digest(secret),
            Invitation.used_at.is_(None),
            Invitation.expires_at > now,
            User.active.is_(True),
        )
    )
    if lock:
        query = query.with_for_update(of=Invitation)
        if session.get_bind().dialect.name == "sqlite":
            # No row locks: a write that changes nothing takes the database's write lock,
            # so a second use of the link waits and then finds it used.
            session.execute(
                update(Invitation)
                .where(Invitation.digest == secret_digest(secret))
                .values(used_at=Invitation.used_at)
            )
    return session.scalars(query).one_or_none()


def invited_user(session: Session, secret: str, now: datetime) -> User | None:
    """The active account whose unused, unexpired one-time link carries ``secret``."""
    invitation = _valid_invitation(session, secret, now)
    return None if invitation is None else session.get(User, invitation.user_id)


def accept_invitation(session: Session, secret: str, password: str, now: datetime) -> User | None:
    """Set the password of the account behind ``secret`` and use the link up; None when the
    link is unknown, used, expired or its account deactivated. A password that breaks the
    rules raises InvalidInput and leaves the link open."""
    check_password_rules(password)
    invitation = _valid_invitation(session, secret, now, lock=True)
    if invitation is None:
        return None
    user = session.get(User, invitation.user_id)
    assert user is not None  # the foreign key cascades
    set_password(session, user, password)
    invitation.used_at = now
    return user


EDITABLE = ("role", "email", "active")


def update_staff(session: Session, user: User, changes: Mapping[str, Any], *, by: User) -> int:
    """Change the role, e-mail address or activity of ``user`` (``changes`` holds only the
    sent ones). Nobody takes away their own admin role or deactivates themselves, and the
    last active admin stays one. How many browser logins ended (a deactivation)."""
    reject_unknown_fields(changes, EDITABLE)
    role = changes.get("role")
    active = changes.get("active")
    demoted = role is not None and Role(role) is not Role.ADMIN
    field = "active" if active is False else "role"
    if user.role is Role.ADMIN and user.active and (demoted or active is False):
        _keep_an_admin(session, user, field)
    if user.id == by.id and (demoted or active is False):
        raise Conflict(
            "You cannot take away your own admin role or deactivate yourself: ask another admin.",
            field,
        )
    if role is not None:
        user.role = Role(role)
    if "email" in changes:
        user.email = checked_email(changes["email"])
    if active is not None and bool(active) != user.active:
        return set_active(session, user.name, bool(active))
    return 0


def _keep_an_admin(session: Session, user: User, field: str) -> None:
    """Refuse to lose the last active admin. The active admins' rows stay locked until the
    transaction ends, so two admins demoting each other at once cannot both pass."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks: a write that changes nothing takes the database's write
        # lock, and the count below sees whatever committed before it.
        session.execute(update(User).where(User.id == user.id).values(role=User.role))
    admins = session.scalars(
        select(User.id).where(User.role == Role.ADMIN, User.active.is_(True)).with_for_update()
    ).all()
    if not set(admins) - {user.id}:
        raise Conflict(
            "'{name}' is the last active admin: give another account the admin role first.",
            field,
            name=user.name,
        )


def own_tokens(session: Session, user: User) -> Sequence[ApiToken]:
    """``user``'s API and calendar tokens, oldest first (revoked ones too)."""
    return session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    ).all()


def find_token(
    session: Session, token_id: int, *, seen_by: User, own_only: bool = False
) -> ApiToken:
    """A token its owner (or, unless ``own_only``, an admin) may manage; anyone else learns
    nothing of it."""
    token = session.get(ApiToken, token_id)
    admin = seen_by.role is Role.ADMIN and not own_only
    if token is None or (token.user_id != seen_by.id and not admin):
        raise NotFound("You have no token with id {id}.", id=token_id)
    return token


def checked_label(label: str) -> str:
    label = label.strip()
    if len(label) > MAX_LABEL_LENGTH:
        raise InvalidInput("The label is longer than 120 characters.", "label")
    return label
