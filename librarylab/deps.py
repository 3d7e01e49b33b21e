"""Dependencies shared by every router: the database session and who is asking."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from librarylab.accounts import sessions as logins
from librarylab.accounts.orm import Role, User
from librarylab.accounts.service import user_for_token
from librarylab.audit.trail import Actor, act_as
from librarylab.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def announce(request: Request) -> None:
    """Tell the live wall that staff changed something (after the commit)."""
    live = getattr(request.app.state, "live", None)
    if live is not None:
        live.changed()


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; write routes commit it themselves, anything else rolls back."""
    with request.app.state.sessions() as session:
        yield session


async def read_form(request: Request) -> AsyncIterator[FormData]:
    """The posted form, read on the event loop, so that the page handler can be a plain
    function: FastAPI runs those in its thread pool, away from the loop every wall shares."""
    async with request.form() as form:
        yield form


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
FormDep = Annotated[FormData, Depends(read_form)]


class RedirectTo(Exception):
    """Raised by page dependencies; the app answers with a redirect (e.g. to the login page)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def optional_user(request: Request, session: SessionDep) -> User | None:
    """The user behind the bearer token, else behind the session cookie, else None.

    A request that sends a token is judged by the token alone.
    """
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise _unauthorized("Send the token as 'Authorization: Bearer <token>'.")
        user = user_for_token(session, secret.strip())
        if user is None:
            raise _unauthorized(
                "The token is unknown or revoked: create one with 'librarylab token create NAME'."
            )
    else:
        user = login_user(request, session)
    if user is not None:
        _record_as(request, session, user)
    return user


def _record_as(request: Request, session: Session, user: User) -> None:
    """The request's changes enter the audit trail under this user (see librarylab.audit)."""
    source = "api" if request.url.path.startswith("/api/") else "page"
    act_as(session, Actor(user.name, source, request.client.host if request.client else None))


def login_user(request: Request, session: Session) -> User | None:
    """The user of the browser's login, if the server still knows it as running.

    Leaves the login's id in ``request.state.login_id`` (to end the others, keep this one).
    """
    secret = request.session.get(logins.COOKIE_KEY)
    if not isinstance(secret, str):
        return None
    found = logins.find_login(session, secret, datetime.now(UTC))
    if found is None:
        return None
    login, user = found
    request.state.login_id = login.id
    return user


def refuse_until_password_changed(user: User) -> User:
    """An account with a one-time password may only choose its own (pages redirect there)."""
    if user.must_change_password:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"This account must choose its own password first, at {PASSWORD_PAGE}; "
            "until then only that page and logging out are open.",
        )
    return user


def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise _unauthorized(
            "Log in, or send 'Authorization: Bearer <token>' "
            "(create one with 'librarylab token create NAME')."
        )
    return refuse_until_password_changed(user)


def _admin_only(user: User) -> User:
    if user.role is not Role.ADMIN:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="This needs the admin role; ask an admin."
        )
    return user


def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    return _admin_only(user)


PASSWORD_PAGE = "/account/password"  # noqa: S105 - a path, not a password


def page_user(request: Request, user: Annotated[User | None, Depends(optional_user)]) -> User:
    """Like :func:`current_user`, but people are sent to log in or to set their password."""
    if user is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise RedirectTo(f"/login?{urlencode({'next': here})}")
    if user.must_change_password and request.url.path != PASSWORD_PAGE:
        raise RedirectTo(PASSWORD_PAGE)
    request.state.user = user  # the page header shows who is logged in
    return user


def page_admin(user: Annotated[User, Depends(page_user)]) -> User:
    return _admin_only(user)


CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]
PageUser = Annotated[User, Depends(page_user)]
AdminPageUser = Annotated[User, Depends(page_admin)]
