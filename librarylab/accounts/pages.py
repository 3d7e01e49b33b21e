"""Login, logout and password pages; the staff administration (admins), the own account
page (tokens, logging out everywhere) and the public page of a one-time invitation link."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from librarylab import forms
from librarylab.accounts import service as accounts
from librarylab.accounts import sessions as logins
from librarylab.accounts.invitations import invitation_link, send_invitation
from librarylab.accounts.orm import Role, TokenScope, User
from librarylab.accounts.service import authenticate, set_password
from librarylab.accounts.throttle import ThrottleDep, client_address
from librarylab.audit.trail import Actor, act_as
from librarylab.deps import (
    PASSWORD_PAGE,
    AdminPageUser,
    FormDep,
    PageUser,
    SessionDep,
    SettingsDep,
)
from librarylab.errors import Conflict, DomainError, InvalidInput, NotFound
from librarylab.schemas import RecordId
from librarylab.settings import Settings
from librarylab.templating import gettext_for, lab_time, render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    """Only follow redirects within this site."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login")
def login(
    request: Request,
    form: FormDep,
    session: SessionDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
) -> Response:
    target = _safe_next(forms.text(form, "next") or "/")
    attempt = throttle.admit(forms.text(form, "name"), client_address(request))
    if attempt.retry_after is not None:
        return _locked_out(request, target, forms.text(form, "name"), attempt.retry_after)
    user = authenticate(session, forms.text(form, "name"), str(form.get("password", "")))
    if user is None:
        throttle.failed(attempt)
        _ = gettext_for(request)
        return render(
            request,
            "login.html",
            {
                "next": target,
                "error": _("Unknown name or wrong password."),
                "name": forms.text(form, "name"),
            },
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    _start_login(request, session, user, timedelta(hours=settings.session_max_age_hours))
    session.commit()  # and a rehashed password is kept
    throttle.succeeded(attempt)
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


def _start_login(request: Request, session: Session, user: User, lifetime: timedelta) -> None:
    """Give this browser a new login secret, never one it brought along (session fixation),
    and end the login it had before."""
    now = datetime.now(UTC)
    previous = request.session.get(logins.COOKIE_KEY)
    if isinstance(previous, str):
        logins.end_login(session, previous, now)
    logins.purge_logins(session, now)
    started = logins.start_login(session, user, now, lifetime)
    request.session.clear()
    request.session[logins.COOKIE_KEY] = started.secret


def _wait(request: Request, seconds: int) -> str:
    _ = gettext_for(request)
    if seconds < 120:
        return str(_("Too many failed logins. Try again in {seconds} s.").format(seconds=seconds))
    minutes = math.ceil(seconds / 60)
    return str(_("Too many failed logins. Try again in {minutes} min.").format(minutes=minutes))


def _locked_out(request: Request, target: str, name: str, seconds: int) -> Response:
    """429 while the name or the address is locked; the password was not checked."""
    response = render(
        request,
        "login.html",
        {"next": target, "error": _wait(request, seconds), "name": name},
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
    )
    response.headers["Retry-After"] = str(seconds)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    secret = request.session.get(logins.COOKIE_KEY)
    if isinstance(secret, str):
        logins.end_login(session, secret, datetime.now(UTC))
        session.commit()
    request.session.clear()
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)


@router.get(PASSWORD_PAGE)
def password_page(
    request: Request, user: PageUser, session: SessionDep, ended: int | None = None
) -> Response:
    return render(request, "password.html", _password_context(request, session, user, ended))


def _password_context(
    request: Request, session: Session, user: User, ended: int | None = None
) -> dict[str, object]:
    others = logins.count_logins(
        session, user, datetime.now(UTC), besides=getattr(request.state, "login_id", None)
    )
    return {"error": None, "forced": user.must_change_password, "others": others, "ended": ended}


@router.post("/account/logout-others")
def logout_others(request: Request, user: PageUser, session: SessionDep) -> Response:
    """End the account's logins in other browsers (a lost phone, a shared computer)."""
    ended = logins.end_logins(
        session, user, datetime.now(UTC), keep=getattr(request.state, "login_id", None)
    )
    session.commit()
    return RedirectResponse(f"{PASSWORD_PAGE}?ended={ended}", status_code=status.HTTP_303_SEE_OTHER)


@router.post(PASSWORD_PAGE)
def change_password(
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    form: FormDep,
    throttle: ThrottleDep,
) -> Response:
    _ = gettext_for(request)
    error = None
    new = str(form.get("new_password", ""))
    current_wrong = False
    if not user.must_change_password:  # a guessing vector too, for a borrowed session
        attempt = throttle.admit(user.name, client_address(request))
        if attempt.retry_after is not None:
            response = render(
                request,
                "password.html",
                {
                    **_password_context(request, session, user),
                    "error": _wait(request, attempt.retry_after),
                },
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            )
            response.headers["Retry-After"] = str(attempt.retry_after)
            return response
        current = str(form.get("current_password", ""))
        current_wrong = authenticate(session, user.name, current) is None
        (throttle.failed if current_wrong else throttle.succeeded)(attempt)
    if current_wrong:
        error = _("The current password is wrong.")
    elif new != str(form.get("repeat_password", "")):
        error = _("The two new passwords differ.")
    else:
        try:
            set_password(session, user, new)  # ends every login of the account
        except InvalidInput as exc:
            error = exc.translated(_)
    if error:
        return render(
            request,
            "password.html",
            {**_password_context(request, session, user), "error": error},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    _start_login(request, session, user, timedelta(hours=settings.session_max_age_hours))
    session.commit()
    return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)


# --- staff administration (admins) ------------------------------------------------------


def _see(path: str) -> Response:
    return RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER)


def _error_status(exc: DomainError) -> int:
    if isinstance(exc, Conflict):
        return status.HTTP_409_CONFLICT
    if isinstance(exc, NotFound):
        return status.HTTP_404_NOT_FOUND
    return status.HTTP_422_UNPROCESSABLE_CONTENT


@router.get("/users")
def users_page(request: Request, session: SessionDep, _admin: AdminPageUser) -> Response:
    now = datetime.now(UTC)
    return render(
        request,
        "users.html",
        {
            "users": accounts.list_users(session),
            "invitations": accounts.latest_invitations(session),
            "running": logins.running_logins(session, now),
            "now": now,
            "local": lambda value: lab_time(request, value),
        },
    )


def _new_user_page(
    request: Request, values: dict[str, str], error: DomainError | None = None
) -> Response:
    return render(
        request,
        "user_new.html",
        {
            "values": values,
            "roles": list(Role),
            "error": error.translated(gettext_for(request)) if error else None,
            "error_field": error.field if error else None,
        },
        status_code=_error_status(error) if error else status.HTTP_200_OK,
    )


@router.get("/users/new")
def new_user_page(request: Request, _admin: AdminPageUser) -> Response:
    return _new_user_page(request, {"name": "", "role": Role.STAFF.value, "email": ""})


@router.post("/users/new")
def add_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    admin: AdminPageUser,
    form: FormDep,
) -> Response:
    values = {key: forms.text(form, key) for key in ("name", "role", "email")}
    try:
        role = _role(values["role"])
        user, new = accounts.add_staff(
            session, values["name"], role, values["email"], by=admin.name, now=datetime.now(UTC)
        )
        mailed = send_invitation(session, settings, user, new, reset=False)
    except DomainError as exc:
        session.rollback()
        return _new_user_page(request, values, exc)
    session.commit()
    return _user_page(request, session, user, settings, new=new, mailed=mailed, created=True)


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput("Choose the role admin or staff.", "role") from None


def _user_page(
    request: Request,
    session: Session,
    user: User,
    settings: Settings,
    *,
    new: accounts.NewInvitation | None = None,
    mailed: str | None = None,
    created: bool = False,
    error: DomainError | None = None,
    notice: str = "",
) -> Response:
    now = datetime.now(UTC)
    return render(
        request,
        "user.html",
        {
            "person": user,
            "password_set": accounts.password_set(user),
            "invitation": accounts.latest_invitations(session).get(user.id),
            "logins": logins.running_logins(session, now).get(user.id, 0),
            "now": now,
            "local": lambda value: lab_time(request, value),
            "roles": list(Role),
            "new_link": invitation_link(settings, new) if new else None,
            "new_expires": new.expires_at if new else None,
            "mailed": mailed,
            "created": created,
            "notice": notice,
            "error": error.translated(gettext_for(request)) if error else None,
            "error_field": error.field if error else None,
        },
        status_code=_error_status(error) if error else status.HTTP_200_OK,
    )


@router.get("/users/{name}")
def user_page(
    request: Request,
    name: str,
    session: SessionDep,
    settings: SettingsDep,
    _admin: AdminPageUser,
    saved: str = "",
) -> Response:
    user = accounts.get_user(session, name)
    return _user_page(request, session, user, settings, notice=saved)


def _change(
    request: Request,
    session: Session,
    settings: Settings,
    admin: User,
    name: str,
    changes: dict[str, object],
    notice: str,
) -> Response:
    user = accounts.get_user(session, name)
    try:
        accounts.update_staff(session, user, changes, by=admin)
    except DomainError as exc:
        session.rollback()
        return _user_page(request, session, accounts.get_user(session, name), settings, error=exc)
    session.commit()
    return _see(f"/users/{quote(user.name)}?saved={notice}")


@router.post("/users/{name}")
def edit_user(
    request: Request,
    name: str,
    session: SessionDep,
    settings: SettingsDep,
    admin: AdminPageUser,
    form: FormDep,
) -> Response:
    """The role and the e-mail address."""
    try:
        role = _role(forms.text(form, "role"))
    except DomainError as exc:
        return _user_page(request, session, accounts.get_user(session, name), settings, error=exc)
    changes: dict[str, object] = {"role": role, "email": forms.text(form, "email")}
    return _change(request, session, settings, admin, name, changes, "saved")


@router.post("/users/{name}/active")
def set_user_active(
    request: Request,
    name: str,
    session: SessionDep,
    settings: SettingsDep,
    admin: AdminPageUser,
    form: FormDep,
) -> Response:
    """Deactivate (logins and tokens stop at once) or reactivate."""
    active = forms.text(form, "active") == "1"
    notice = "activated" if active else "deactivated"
    return _change(request, session, settings, admin, name, {"active": active}, notice)


@router.post("/users/{name}/reset-password")
def reset_user_password(
    request: Request,
    name: str,
    session: SessionDep,
    settings: SettingsDep,
    admin: AdminPageUser,
) -> Response:
    user = accounts.get_user(session, name)
    if user.id == admin.id:
        return _see(PASSWORD_PAGE)  # one's own password is changed, not reset
    new, _ended = accounts.reset_password(session, user, by=admin.name, now=datetime.now(UTC))
    mailed = send_invitation(session, settings, user, new, reset=True)
    session.commit()
    return _user_page(request, session, user, settings, new=new, mailed=mailed)


@router.post("/users/{name}/logout")
def end_user_logins(name: str, session: SessionDep, _admin: AdminPageUser) -> Response:
    user = accounts.get_user(session, name)
    logins.end_logins(session, user, datetime.now(UTC))
    session.commit()
    return _see(f"/users/{quote(user.name)}?saved=logged-out")


# --- the own account --------------------------------------------------------------------


def _account_page(
    request: Request,
    session: Session,
    user: User,
    *,
    new_token: str = "",
    error: DomainError | None = None,
) -> Response:
    others = logins.count_logins(
        session, user, datetime.now(UTC), besides=getattr(request.state, "login_id", None)
    )
    return render(
        request,
        "account.html",
        {
            "tokens": accounts.own_tokens(session, user),
            "new_token": new_token,
            "others": others,
            "error": error.translated(gettext_for(request)) if error else None,
        },
        status_code=_error_status(error) if error else status.HTTP_200_OK,
    )


@router.get("/account")
def account_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    return _account_page(request, session, user)


@router.post("/account/tokens")
def create_own_token(
    request: Request, session: SessionDep, user: PageUser, form: FormDep
) -> Response:
    """A token of one's own; its secret is on this answer only."""
    try:
        label = accounts.checked_label(forms.text(form, "label"))
        scope = TokenScope(forms.text(form, "scope") or TokenScope.API.value)
    except ValueError:
        return _account_page(
            request, session, user, error=InvalidInput("Choose the kind api or calendar.", "scope")
        )
    except DomainError as exc:
        return _account_page(request, session, user, error=exc)
    new = accounts.create_token(session, user, label=label, scope=scope)
    session.commit()
    return _account_page(request, session, user, new_token=new.secret)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_own_token(token_id: RecordId, session: SessionDep, user: PageUser) -> Response:
    token = accounts.find_token(session, token_id, seen_by=user, own_only=True)
    token.revoked_at = token.revoked_at or datetime.now(UTC)
    session.commit()
    return _see("/account")


@router.post("/account/logout-everywhere")
def logout_everywhere(request: Request, user: PageUser, session: SessionDep) -> Response:
    """End every login of the account, this browser's too (API tokens stay)."""
    logins.end_logins(session, user, datetime.now(UTC))
    session.commit()
    request.session.clear()
    return _see("/login")


# --- the one-time invitation link (no login) --------------------------------------------


@router.get(accounts.INVITE_PATH + "{secret}")
def invitation_page(request: Request, secret: str, session: SessionDep) -> Response:
    found = accounts.invited_user(session, secret, datetime.now(UTC))
    return render(
        request,
        "invite.html",
        {"outcome": "ask" if found else "invalid", "person": found, "error": None},
        status_code=status.HTTP_200_OK if found else status.HTTP_404_NOT_FOUND,
    )


@router.post(accounts.INVITE_PATH + "{secret}")
def accept_invitation(
    request: Request, secret: str, session: SessionDep, form: FormDep
) -> Response:
    """Set the password; the link is used up. An unknown, altered, used or expired link
    answers exactly as an unknown one."""
    now = datetime.now(UTC)
    _ = gettext_for(request)
    new = str(form.get("new_password", ""))
    error = None
    user = None
    if new != str(form.get("repeat_password", "")):
        error = _("The two new passwords differ.")
    else:
        invited = accounts.invited_user(session, secret, now)
        if invited is not None:  # nobody is logged in here: the trail names the invited person
            act_as(session, Actor(invited.name, "page", client_address(request)))
        try:
            user = accounts.accept_invitation(session, secret, new, now)
        except InvalidInput as exc:
            error = exc.translated(_)
    if error is not None:
        session.rollback()
        found = accounts.invited_user(session, secret, now)
        if found is not None:
            return render(
                request,
                "invite.html",
                {"outcome": "ask", "person": found, "error": error},
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
    if user is None:
        return render(
            request,
            "invite.html",
            {"outcome": "invalid", "person": None, "error": None},
            status_code=status.HTTP_404_NOT_FOUND,
        )
    session.commit()
    return render(request, "invite.html", {"outcome": "done", "person": user, "error": None})
