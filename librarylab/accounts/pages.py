"""Login, logout and password pages."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from librarylab import forms
from librarylab.accounts import sessions as logins
from librarylab.accounts.orm import User
from librarylab.accounts.service import authenticate, set_password
from librarylab.accounts.throttle import ThrottleDep, client_address
from librarylab.deps import PASSWORD_PAGE, FormDep, PageUser, SessionDep, SettingsDep
from librarylab.errors import InvalidInput
from librarylab.templating import gettext_for, render

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
