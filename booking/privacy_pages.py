"""The staff page of personal data: export what is stored about an address as a file,
erase it after a confirmation step (admins), and read the log of both."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from booking import privacy
from librarylab import forms
from librarylab.accounts.orm import Role, User
from librarylab.deps import AdminPageUser, FormDep, PageUser, SessionDep, announce
from librarylab.errors import DomainError
from librarylab.settings import Settings
from librarylab.templating import gettext_for, lab_time, render

router = APIRouter(prefix="/personal-data", include_in_schema=False)
PAGE = "booking/personal_data.html"


def _page(
    request: Request,
    session: Session,
    user: User,
    *,
    error: DomainError | None = None,
    email: str = "",
    confirm: privacy.Found | None = None,
) -> Response:
    settings: Settings = request.app.state.settings
    erased = request.query_params.get("erased", "")
    return render(
        request,
        PAGE,
        {
            "is_admin": user.role is Role.ADMIN,
            "actions": [(a, lab_time(request, a.at)) for a in privacy.list_actions(session, 50)],
            "error": error.translated(gettext_for(request)) if error else None,
            "email": email,
            "confirm": confirm,
            "erased": int(erased) if erased.isdigit() else None,
            "months": settings.personal_data_months,
        },
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK,
    )


@router.get("")
def personal_data_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    return _page(request, session, user)


@router.post("/export")
def export_personal_data(
    request: Request, session: SessionDep, user: PageUser, form: FormDep
) -> Response:
    """The export as a file download; the file name carries the time, not the address."""
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    email = forms.text(form, "email")
    try:
        data = privacy.export(session, email, actor=user.name, settings=settings, now=now)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, user, error=exc, email=email)
    session.commit()
    name = f"personal-data-{now:%Y%m%d-%H%M%S}.json"
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/erase")
def erase_personal_data(
    request: Request, session: SessionDep, user: AdminPageUser, form: FormDep
) -> Response:
    """First the records that would change and a confirm button; erase once confirmed."""
    settings: Settings = request.app.state.settings
    email = forms.text(form, "email")
    try:
        address = privacy.address_of(email)
        if not forms.checkbox(form, "confirmed"):
            return _page(
                request, session, user, email=address, confirm=privacy.find(session, address)
            )
        erased = privacy.erase(
            session, address, actor=user.name, settings=settings, now=datetime.now(UTC)
        )
    except DomainError as exc:
        session.rollback()
        return _page(request, session, user, error=exc, email=email)
    session.commit()
    announce(request)
    return RedirectResponse(
        f"/personal-data?erased={erased.records}", status_code=status.HTTP_303_SEE_OTHER
    )
