"""Staff pages for visits: list by round, calendar, create and edit."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, time, timedelta
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from librarylab import forms
from librarylab.accounts import service as accounts
from librarylab.accounts.orm import TokenScope, User
from librarylab.deps import AdminPageUser, FormDep, PageUser, SessionDep, announce
from librarylab.errors import DomainError, InvalidInput
from librarylab.schemas import RecordId
from librarylab.templating import gettext_for, render
from visits import service
from visits.model import TOPIC_SUGGESTIONS, Post, PostKind, VisitStatus
from visits.orm import Visit

router = APIRouter(prefix="/visits", include_in_schema=False)
FORM_POST_KINDS = (PostKind.BLOG, PostKind.FACEBOOK)
ONE_DAY = timedelta(days=1)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


def _posts_from_form(form: FormData, kept: list[Post]) -> list[Post]:
    posts = [p for p in kept if p.kind not in FORM_POST_KINDS]
    for kind in FORM_POST_KINDS:
        url = forms.text(form, f"post_{kind}_url")
        published = forms.checkbox(form, f"post_{kind}_published")
        if forms.checkbox(form, f"post_{kind}_promised") or url or published:
            posts.append(Post(kind, url, published))
    return posts


def _values(form: FormData, kept_posts: list[Post]) -> dict[str, Any]:
    state = forms.text(form, "status")
    if state not in {s.value for s in VisitStatus}:
        raise InvalidInput("Choose a status for the visit.", "status")
    return {
        "library": forms.text(form, "library"),
        "town": forms.text(form, "town"),
        "date": forms.day(form, "date"),
        "start": forms.clock(form, "start"),
        "end": forms.clock(form, "end"),
        "hands_on_start": forms.optional_clock(form, "hands_on_start"),
        "hands_on_end": forms.optional_clock(form, "hands_on_end"),
        "participants": forms.integer(form, "participants")
        if forms.text(form, "participants")
        else 0,
        "topic": forms.text(form, "topic"),
        "contact_name": forms.text(form, "contact_name"),
        "contact_email": forms.text(form, "contact_email"),
        "status": state,
        "round": forms.text(form, "round") or None,
        "posts": _posts_from_form(form, kept_posts),
        "notes": forms.text(form, "notes"),
        "staff_on_duty": forms.integer(form, "staff_on_duty")
        if forms.text(form, "staff_on_duty")
        else None,
        "staff_names": [n.strip() for n in forms.text(form, "staff_names").split(",")],
    }


def _form_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Stored fields as the form shows them."""
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, time):
            values[name] = value.strftime("%H:%M")
        elif isinstance(value, date):
            values[name] = value.isoformat()
        elif name == "staff_names":
            values[name] = ", ".join(value)
        elif name != "posts":
            values[name] = "" if value is None else value
    for post in fields.get("posts", []):
        values[f"post_{post.kind}_promised"] = True
        values[f"post_{post.kind}_url"] = post.url
        values[f"post_{post.kind}_published"] = post.published
    return values


def _form_page(
    request: Request,
    session: SessionDep,
    visit_id: int | None,
    values: dict[str, Any],
    error: DomainError | None,
) -> Response:
    _ = gettext_for(request)
    return render(
        request,
        "visits/form.html",
        {
            "visit_id": visit_id,
            "values": values,
            "statuses": list(VisitStatus),
            "post_kinds": FORM_POST_KINDS,
            "topics": TOPIC_SUGGESTIONS,
            "rounds": [r.name for r in service.list_rounds(session)],
            "error": error.translated(_) if error else None,
            "error_field": error.field if error else None,
        },
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK,
    )


def _round_filter(session: SessionDep, wanted: str | None) -> tuple[list[str], str | None]:
    names = [r.name for r in service.list_rounds(session)]
    return names, (wanted if wanted in names else None)


@router.get("")
def visits_page(
    request: Request, session: SessionDep, _user: PageUser, round: str | None = None
) -> Response:
    rounds, chosen = _round_filter(session, round)
    visits = service.list_visits(session, round_name=chosen)
    groups: dict[str, list[Visit]] = {}
    for visit in visits:
        groups.setdefault(visit.round.name if visit.round else "", []).append(visit)
    return render(
        request,
        "visits/list.html",
        {"groups": groups, "rounds": rounds, "chosen": chosen, "today": date.today()},
    )


@router.get("/calendar")
def calendar_page(
    request: Request,
    session: SessionDep,
    _user: PageUser,
    round: str | None = None,
    month: str | None = None,
) -> Response:
    rounds, chosen = _round_filter(session, round)
    visits = service.list_visits(session, round_name=chosen)
    first = _month_start(month, visits)
    days_in_month = calendar.monthrange(first.year, first.month)[1]
    last = first.replace(day=days_in_month)
    by_day: dict[date, list[Visit]] = {}
    for visit in visits:
        if first <= visit.date <= last:
            by_day.setdefault(visit.date, []).append(visit)
    weeks = calendar.Calendar(firstweekday=calendar.MONDAY).monthdatescalendar(
        first.year, first.month
    )
    previous = (first.replace(day=1) - ONE_DAY).replace(day=1)
    following = last + ONE_DAY
    return render(
        request,
        "visits/calendar.html",
        {
            "month": first,
            "weeks": weeks,
            "by_day": by_day,
            "rounds": rounds,
            "chosen": chosen,
            "previous": previous.strftime("%Y-%m"),
            "following": following.strftime("%Y-%m"),
            "today": date.today(),
        },
    )


def _feeds_page(request: Request, session: SessionDep, user: User, new_link: str = "") -> Response:
    return render(
        request,
        "visits/feeds.html",
        {"links": accounts.calendar_tokens(session, user), "new_link": new_link},
    )


@router.get("/feeds")
def feeds_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    return _feeds_page(request, session, user)


@router.post("/feeds")
def create_feed(request: Request, session: SessionDep, user: PageUser, form: FormDep) -> Response:
    """A calendar link for the logged-in person: its token opens the feed alone."""
    label = forms.text(form, "label")[:120]
    token = accounts.create_token(session, user, label=label, scope=TokenScope.CALENDAR)
    session.commit()
    link = request.url_for("read_visits_calendar").include_query_params(token=token.secret)
    return _feeds_page(request, session, user, new_link=str(link))


@router.post("/feeds/{token_id}/revoke")
def revoke_feed(token_id: RecordId, session: SessionDep, user: PageUser) -> Response:
    accounts.revoke_calendar_token(session, user, token_id)
    session.commit()
    return _see("/visits/feeds")


def _month_start(month: str | None, visits: Sequence[Visit]) -> date:
    """The asked month; else the month of the next visit; else of the last one; else now."""
    if month:
        try:
            return date.fromisoformat(month + "-01")
        except ValueError:
            pass
    today = date.today()
    upcoming = [v.date for v in visits if v.date >= today]
    if upcoming:
        return min(upcoming).replace(day=1)
    if visits:
        return max(v.date for v in visits).replace(day=1)
    return today.replace(day=1)


@router.get("/new")
def new_visit_page(
    request: Request, session: SessionDep, _user: PageUser, on: str | None = None
) -> Response:
    fields = service.DEFAULTS | {"date": on or "", "status": VisitStatus.REQUESTED}
    return _form_page(request, session, None, _form_values(fields), None)


@router.post("/new")
def create_visit(request: Request, session: SessionDep, _user: PageUser, form: FormDep) -> Response:
    try:
        visit = service.create_visit(session, _values(form, []))
    except DomainError as exc:
        session.rollback()
        return _form_page(request, session, None, dict(form), exc)
    session.commit()
    announce(request)
    return _see(f"/visits/{visit.id}")


@router.get("/{visit_id}")
def edit_visit_page(
    request: Request, visit_id: RecordId, session: SessionDep, _user: PageUser
) -> Response:
    visit = service.get_visit(session, visit_id)
    return _form_page(request, session, visit.id, _form_values(service.visit_fields(visit)), None)


@router.post("/{visit_id}")
def update_visit(
    request: Request, visit_id: RecordId, session: SessionDep, _user: PageUser, form: FormDep
) -> Response:
    before = service.visit_fields(service.get_visit(session, visit_id))
    try:
        visit = service.update_visit(session, visit_id, _values(form, before["posts"]))
        request.app.state.after_visit_update(session, before, visit)  # tells its contact
    except DomainError as exc:
        session.rollback()
        return _form_page(request, session, visit_id, dict(form), exc)
    session.commit()
    announce(request)
    return _see("/visits")


@router.post("/{visit_id}/delete")
def delete_visit(
    request: Request, visit_id: RecordId, session: SessionDep, _user: AdminPageUser
) -> Response:
    service.delete_visit(session, visit_id)
    session.commit()
    announce(request)
    return _see("/visits")
