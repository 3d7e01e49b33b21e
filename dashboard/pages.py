"""Staff page for wall screens: create read-only display links, revoke them."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from librarylab import forms
from librarylab.accounts import service as accounts
from librarylab.deps import FormDep, PageUser, SessionDep
from librarylab.errors import DomainError
from librarylab.schemas import RecordId
from librarylab.templating import gettext_for, render

router = APIRouter(prefix="/displays", include_in_schema=False)


def _page(request: Request, session: SessionDep, **extra: object) -> Response:
    return render(
        request,
        "dashboard/displays.html",
        {"links": accounts.list_display_tokens(session), "new_link": None, "error": None, **extra},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if extra.get("error") else 200,
    )


@router.get("")
def displays_page(request: Request, session: SessionDep, _user: PageUser) -> Response:
    return _page(request, session)


@router.post("")
def create_display(
    request: Request, session: SessionDep, _user: PageUser, form: FormDep
) -> Response:
    try:
        token = accounts.create_display_token(session, forms.text(form, "name"))
    except DomainError as exc:
        session.rollback()
        return _page(request, session, error=exc.translated(gettext_for(request)))
    session.commit()
    link = str(request.url_for("wall_page").include_query_params(token=token.secret))
    return _page(request, session, new_link=link)


@router.post("/{token_id}/revoke")
def revoke_display(
    request: Request, token_id: RecordId, session: SessionDep, _user: PageUser
) -> Response:
    accounts.revoke_display_token(session, token_id)
    session.commit()
    # Walls on this instance close at once; others notice within RECHECK_SECONDS.
    request.app.state.display_links_changed()
    return RedirectResponse("/displays", status_code=status.HTTP_303_SEE_OTHER)
