"""Login, logout and password pages."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from librarylab import forms
from librarylab.accounts.service import authenticate, set_password
from librarylab.accounts.throttle import ThrottleDep, client_address
from librarylab.deps import PASSWORD_PAGE, SESSION_USER_KEY, FormDep, PageUser, SessionDep
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
def login(request: Request, form: FormDep, session: SessionDep, throttle: ThrottleDep) -> Response:
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
    session.commit()  # a rehashed password is kept
    throttle.succeeded(attempt)
    request.session.clear()
    request.session[SESSION_USER_KEY] = user.id
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


def _locked_out(request: Request, target: str, name: str, seconds: int) -> Response:
    """429 while the name or the address is locked; the password was not checked."""
    _ = gettext_for(request)
    error = (
        _("Too many failed logins. Try again in {seconds} s.").format(seconds=seconds)
        if seconds < 120
        else _("Too many failed logins. Try again in {minutes} min.").format(
            minutes=math.ceil(seconds / 60)
        )
    )
    response = render(
        request,
        "login.html",
        {"next": target, "error": error, "name": name},
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
    )
    response.headers["Retry-After"] = str(seconds)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)


@router.get(PASSWORD_PAGE)
def password_page(request: Request, user: PageUser) -> Response:
    return render(request, "password.html", {"error": None, "forced": user.must_change_password})


@router.post(PASSWORD_PAGE)
def change_password(
    request: Request, user: PageUser, session: SessionDep, form: FormDep
) -> Response:
    _ = gettext_for(request)
    error = None
    new = str(form.get("new_password", ""))
    if (
        not user.must_change_password
        and authenticate(session, user.name, str(form.get("current_password", ""))) is None
    ):
        error = _("The current password is wrong.")
    elif new != str(form.get("repeat_password", "")):
        error = _("The two new passwords differ.")
    else:
        try:
            set_password(user, new)
        except InvalidInput as exc:
            error = exc.translated(_)
    if error:
        return render(
            request,
            "password.html",
            {"error": error, "forced": user.must_change_password},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    session.commit()
    return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
