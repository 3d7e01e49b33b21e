"""JSON API of accounts: admins manage staff under ``/api/users``; everybody manages their
own API tokens under ``/api/tokens``. No answer carries a password hash or a digest; a new
invitation link or token secret is in the answer that makes it, and never again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import Field, StrictBool
from sqlalchemy.orm import Session

from librarylab.accounts import service as accounts
from librarylab.accounts import sessions as logins
from librarylab.accounts.invitations import invitation_link, send_invitation
from librarylab.accounts.orm import ApiToken, Invitation, Role, TokenScope, User
from librarylab.accounts.service import get_user
from librarylab.accounts.sessions import secret_digest
from librarylab.deps import AdminUser, CurrentUser, SessionDep, SettingsDep
from librarylab.errors import Conflict
from librarylab.problems import error_responses
from librarylab.schemas import OutModel, PatchModel, RecordId, StrictModel

users = APIRouter(prefix="/api/users", tags=["users"])
tokens = APIRouter(prefix="/api/tokens", tags=["tokens"])
router = APIRouter()

UserName = Annotated[str, Path(min_length=1, max_length=accounts.MAX_NAME_LENGTH)]


def _now() -> datetime:
    return datetime.now(UTC)


# --- JSON shapes (a public contract: add fields, never rename) --------------------------


class PendingInvitation(OutModel):
    """The newest one-time link of an account that was not used yet."""

    created_by: str
    created_at: datetime
    expires_at: datetime
    expired: bool = Field(description="Past its time: reset the password for a new link.")


class UserOut(OutModel):
    name: str
    role: Role
    email: str | None
    active: bool = Field(description="False: the account cannot log in, its tokens fail.")
    password_set: bool = Field(
        description="False until the person chose a password through the invitation link."
    )
    must_change_password: bool
    created_at: datetime
    logins: int = Field(description="Browser logins running now.")
    invitation: PendingInvitation | None


class InvitationLink(OutModel):
    """A one-time link to choose a password; shown in this answer only."""

    link: str = Field(description="Open it once, before `expires_at`, to set the password.")
    expires_at: datetime
    mailed_to: str | None = Field(
        description="Where the link was also mailed (mail configured and an address known)."
    )


class UserCreated(OutModel):
    user: UserOut
    invitation: InvitationLink


class PasswordReset(OutModel):
    user: UserOut
    invitation: InvitationLink
    logins_ended: int = Field(description="Browser logins of the account that ended.")


class UserCreate(StrictModel):
    name: str = Field(
        min_length=1,
        max_length=accounts.MAX_NAME_LENGTH,
        pattern=accounts.NAME_PATTERN,
        description="Letters, digits and . _ @ -, e.g. 'anna.schmidt'.",
    )
    role: Role = Role.STAFF
    email: str | None = Field(
        default=None,
        max_length=accounts.MAX_EMAIL_LENGTH,
        description="Optional; with mail configured, the invitation link goes there too.",
    )


class UserPatch(PatchModel):
    nullable = frozenset({"email"})

    role: Role | None = None
    email: str | None = Field(
        default=None, max_length=accounts.MAX_EMAIL_LENGTH, description="null removes it."
    )
    active: StrictBool | None = Field(
        default=None, description="false stops the account's logins and tokens at once."
    )


class LoginsEnded(OutModel):
    name: str
    ended: int = Field(description="How many browser logins of the account ended.")


class TokenOut(OutModel):
    id: int
    user: str = Field(description="The account the token acts as.")
    label: str
    scope: TokenScope
    created_at: datetime
    revoked_at: datetime | None


class TokenCreate(StrictModel):
    label: str = Field(default="", max_length=accounts.MAX_LABEL_LENGTH)
    scope: TokenScope = Field(
        default=TokenScope.API,
        description="'api' opens the whole API as you; 'calendar' the calendar feed alone.",
    )


class TokenCreated(OutModel):
    token: TokenOut
    secret: str = Field(description="Send it as 'Authorization: Bearer <secret>'; shown once.")


# --- shaping ----------------------------------------------------------------------------


def user_out(
    user: User, invitation: Invitation | None, logins_running: int, now: datetime
) -> UserOut:
    pending = None
    if invitation is not None:
        pending = PendingInvitation(
            created_by=invitation.created_by,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
            expired=invitation.expires_at <= now,
        )
    return UserOut(
        name=user.name,
        role=user.role,
        email=user.email,
        active=user.active,
        password_set=accounts.password_set(user),
        must_change_password=user.must_change_password,
        created_at=user.created_at,
        logins=logins_running,
        invitation=pending,
    )


def _one_user(session: Session, user: User) -> UserOut:
    now = _now()
    return user_out(
        user,
        accounts.latest_invitations(session).get(user.id),
        logins.running_logins(session, now).get(user.id, 0),
        now,
    )


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        user=token.user.name,
        label=token.label,
        scope=token.scope,
        created_at=token.created_at,
        revoked_at=token.revoked_at,
    )


# --- /api/users -------------------------------------------------------------------------


@users.get("")
def read_users(session: SessionDep, _admin: AdminUser) -> list[UserOut]:
    """Every account, by name."""
    now = _now()
    invitations = accounts.latest_invitations(session)
    running = logins.running_logins(session, now)
    return [
        user_out(u, invitations.get(u.id), running.get(u.id, 0), now)
        for u in sorted(accounts.list_users(session), key=lambda u: u.name)
    ]


@users.post("", status_code=status.HTTP_201_CREATED)
def create_user(
    request: Request, body: UserCreate, session: SessionDep, settings: SettingsDep, admin: AdminUser
) -> UserCreated:
    """Add a staff member: the answer carries a one-time link (72 h) with which the person
    chooses a password; until then the account cannot log in."""
    user, new = accounts.add_staff(
        session, body.name, body.role, body.email, by=admin.name, now=_now()
    )
    mailed = send_invitation(session, settings, user, new, reset=False)
    session.commit()
    return UserCreated(
        user=_one_user(session, user),
        invitation=InvitationLink(
            link=invitation_link(settings, new), expires_at=new.expires_at, mailed_to=mailed
        ),
    )


@users.get("/{name}")
def read_user(name: UserName, session: SessionDep, _admin: AdminUser) -> UserOut:
    return _one_user(session, get_user(session, name))


@users.patch("/{name}")
def update_user(name: UserName, body: UserPatch, session: SessionDep, admin: AdminUser) -> UserOut:
    """Change the role, the e-mail address, or deactivate (its logins and tokens stop at
    once) and reactivate. 409 for your own role or activity and for the last active admin."""
    user = get_user(session, name)
    accounts.update_staff(session, user, body.values(), by=admin)
    session.commit()
    return _one_user(session, user)


@users.post("/{name}/reset-password")
def reset_user_password(
    name: UserName, session: SessionDep, settings: SettingsDep, admin: AdminUser
) -> PasswordReset:
    """The old password stops working and the account's browser logins end; the person
    chooses a new password through the one-time link in the answer (its API tokens stay).
    Your own password you change at /account/password."""
    user = get_user(session, name)
    if user.id == admin.id:
        raise Conflict(
            "Change your own password at /account/password instead of resetting it.", "name"
        )
    new, ended = accounts.reset_password(session, user, by=admin.name, now=_now())
    mailed = send_invitation(session, settings, user, new, reset=True)
    session.commit()
    return PasswordReset(
        user=_one_user(session, user),
        invitation=InvitationLink(
            link=invitation_link(settings, new), expires_at=new.expires_at, mailed_to=mailed
        ),
        logins_ended=ended,
    )


@users.post("/{name}/logout")
def end_user_logins(name: UserName, session: SessionDep, _admin: AdminUser) -> LoginsEnded:
    """Log an account out of every browser (e.g. a lost phone); its API tokens stay valid."""
    user = get_user(session, name)
    ended = logins.end_logins(session, user, datetime.now(UTC))
    session.commit()
    return LoginsEnded(name=user.name, ended=ended)


# --- /api/tokens ------------------------------------------------------------------------


@tokens.get("", responses=error_responses(404))
def read_tokens(
    session: SessionDep,
    user: CurrentUser,
    of: Annotated[
        str | None,
        Query(
            alias="user",
            min_length=1,
            max_length=accounts.MAX_NAME_LENGTH,
            description="Admins: the tokens of this account instead of your own.",
        ),
    ] = None,
) -> list[TokenOut]:
    """Your own tokens, revoked ones too; never their secrets."""
    owner = user
    if of is not None and of != user.name:
        if user.role is not Role.ADMIN:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail="Only admins list the tokens of other accounts: leave out 'user'.",
            )
        owner = get_user(session, of)
    return [token_out(t) for t in accounts.own_tokens(session, owner)]


@tokens.post("", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, session: SessionDep, user: CurrentUser) -> TokenCreated:
    """A new token of your own; its secret is in this answer only."""
    label = accounts.checked_label(body.label)
    new = accounts.create_token(session, user, label=label, scope=body.scope)
    session.commit()
    stored = session.get(ApiToken, new.id)
    assert stored is not None
    return TokenCreated(token=token_out(stored), secret=new.secret)


@tokens.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(
    request: Request, token_id: RecordId, session: SessionDep, user: CurrentUser
) -> None:
    """Revoke one of your tokens (admins: anyone's); revoking twice changes nothing. The
    token this request is sent with cannot revoke itself (revoke it on /account)."""
    token = accounts.find_token(session, token_id, seen_by=user)
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secret_digest(secret.strip()) == token.digest:
        raise Conflict(
            "This request is sent with token {id}, which cannot revoke itself: revoke it on "
            "/account, with another token, or with 'librarylab token revoke {id}'.",
            "token_id",
            id=token_id,
        )
    token.revoked_at = token.revoked_at or _now()
    session.commit()


router.include_router(users)
router.include_router(tokens)
