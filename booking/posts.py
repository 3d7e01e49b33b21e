"""The personal page where a library enters the address of its #librarylab post: no login,
the link from the follow-up mail is the key. Any token that is not a valid link answers 404
without saying why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import RedirectResponse, Response

from booking import correspondence
from librarylab.deps import FormDep, SessionDep, SettingsDep
from librarylab.errors import DomainError
from librarylab.i18n import LANGUAGE_COOKIE
from librarylab.templating import gettext_for, render
from visits.orm import Visit

router = APIRouter(prefix="/posts", include_in_schema=False)
Token = Annotated[str, Path(max_length=80)]
POST_FIELD = "post_"  # the form field of a post: post_<id>


def _visit(session: SessionDep, token: str, settings: SettingsDep) -> Visit:
    visit = correspondence.visit_for_token(session, token, settings)
    if visit is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not found.")
    return visit


def _page(
    request: Request,
    token: str,
    visit: Visit,
    *,
    values: dict[int, str] | None = None,
    error: DomainError | None = None,
    saved: bool = False,
) -> Response:
    return render(
        request,
        "booking/posts.html",
        {
            "token": token,
            "library": visit.library,
            "date": visit.date,
            "posts": visit.posts,
            "values": values or {post.id: post.url for post in visit.posts},
            "error": error.translated(gettext_for(request)) if error else None,
            "error_field": error.field if error else None,
            "saved": saved,
        },
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK,
    )


@router.get("/{token}")
def post_page(
    request: Request,
    token: Token,
    session: SessionDep,
    settings: SettingsDep,
    saved: bool = False,
) -> Response:
    visit = _visit(session, token, settings)
    if "lang" not in request.query_params and LANGUAGE_COOKIE not in request.cookies:
        # First visit from the mail: show the page in the language the mail was in.
        target = request.url.include_query_params(lang=visit.contact_language)
        return RedirectResponse(str(target), status_code=status.HTTP_303_SEE_OTHER)
    return _page(request, token, visit, saved=saved)


@router.post("/{token}")
def store_posts(
    request: Request, token: Token, session: SessionDep, settings: SettingsDep, form: FormDep
) -> Response:
    visit = _visit(session, token, settings)
    urls: dict[int, str] = {}
    for name, value in form.multi_items():
        number = name.removeprefix(POST_FIELD)
        if name.startswith(POST_FIELD) and number.isascii() and number.isdigit():
            urls[int(number)] = value if isinstance(value, str) else ""
    try:
        correspondence.store_posts(session, visit, urls)
    except DomainError as exc:
        session.rollback()
        return _page(request, token, visit, values=urls, error=exc)
    session.commit()
    return RedirectResponse(f"/posts/{token}?saved=true", status_code=status.HTTP_303_SEE_OTHER)
