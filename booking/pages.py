"""Staff pages of the visit-request inbox: the list, and one request with its decision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from booking import inbox
from booking.model import RequestState
from librarylab import forms
from librarylab.deps import FormDep, PageUser, SessionDep, SettingsDep, announce
from librarylab.errors import Conflict, DomainError
from librarylab.schemas import RecordId
from librarylab.templating import gettext_for, lab_time, render
from visits import service as visits

router = APIRouter(prefix="/requests", include_in_schema=False)


def _common(request: Request) -> dict[str, Any]:
    """What both pages show: the states in the reader's language, times in the lab's zone."""
    _ = gettext_for(request)
    labels = {
        RequestState.NEW: _("not confirmed yet"),
        RequestState.CONFIRMED: _("waiting"),
        RequestState.ACCEPTED: _("accepted"),
        RequestState.DECLINED: _("declined"),
        RequestState.EXPIRED: _("expired"),
    }
    return {"state_labels": labels, "local": lambda value: lab_time(request, value)}


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


@router.get("")
def inbox_page(
    request: Request, session: SessionDep, _user: PageUser, state: str | None = None
) -> Response:
    chosen = RequestState(state) if state in {s.value for s in RequestState} else None
    return render(
        request,
        "booking/inbox.html",
        {
            "requests": inbox.list_requests(session, chosen),
            "states": list(RequestState),
            "chosen": chosen,
            "waiting": inbox.waiting(session),
            **_common(request),
        },
    )


def _status_of(error: DomainError | None) -> int:
    if error is None:
        return status.HTTP_200_OK
    if isinstance(error, Conflict):
        return status.HTTP_409_CONFLICT
    return status.HTTP_422_UNPROCESSABLE_CONTENT


def _request_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    request_id: int,
    values: dict[str, Any],
    error: DomainError | None = None,
) -> Response:
    found = inbox.get_request(session, request_id)
    return render(
        request,
        "booking/inbox_request.html",
        {
            "item": found,
            "free_dates": visits.free_dates(
                session, datetime.now(ZoneInfo(settings.timezone)).date()
            ),
            "values": values,
            "error": error.translated(gettext_for(request)) if error else None,
            "error_field": error.field if error else None,
            **_common(request),
        },
        status_code=_status_of(error),
    )


@router.get("/{request_id}")
def request_page(
    request: Request,
    request_id: RecordId,
    session: SessionDep,
    settings: SettingsDep,
    _user: PageUser,
) -> Response:
    return _request_page(request, session, settings, request_id, {})


def _accept_values(form: FormData) -> dict[str, Any]:
    """The form's choice: a new date if one is given, else a picked free date, else the
    request's own date."""
    values: dict[str, Any] = {}
    if forms.text(form, "topic"):
        values["topic"] = forms.text(form, "topic")
    if forms.text(form, "date"):
        values["date"] = forms.day(form, "date")
        values["start"] = forms.clock(form, "start")
        values["end"] = forms.clock(form, "end")
        values["hands_on_start"] = forms.optional_clock(form, "hands_on_start")
        values["hands_on_end"] = forms.optional_clock(form, "hands_on_end")
        values["round"] = forms.text(form, "round") or None
    elif forms.text(form, "visit_id"):
        values["visit_id"] = forms.integer(form, "visit_id")
    return values


@router.post("/{request_id}/accept")
def accept_request(
    request: Request,
    request_id: RecordId,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    form: FormDep,
) -> Response:
    try:
        inbox.accept(
            session, request_id, _accept_values(form), user.name, datetime.now(UTC), settings
        )
    except DomainError as exc:
        session.rollback()
        return _request_page(request, session, settings, request_id, dict(form), exc)
    session.commit()
    announce(request)
    return _see(f"/requests/{request_id}")


@router.post("/{request_id}/decline")
def decline_request(
    request: Request,
    request_id: RecordId,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    form: FormDep,
) -> Response:
    try:
        inbox.decline(
            session, request_id, forms.text(form, "message"), user.name, datetime.now(UTC), settings
        )
    except DomainError as exc:
        session.rollback()
        return _request_page(request, session, settings, request_id, dict(form), exc)
    session.commit()
    announce(request)
    return _see(f"/requests/{request_id}")
