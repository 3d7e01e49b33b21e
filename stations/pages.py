"""Staff pages for stations: list, create, edit, out of service / back in service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from librarylab import forms
from librarylab.accounts.orm import Role
from librarylab.deps import AdminPageUser, FormDep, PageUser, SessionDep, announce
from librarylab.errors import DomainError, InvalidInput
from librarylab.schemas import RecordId
from librarylab.templating import gettext_for, render
from stations import service
from stations.model import Kind, Status

router = APIRouter(prefix="/stations", include_in_schema=False)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


def _values(form: FormData) -> dict[str, Any]:
    kind = forms.text(form, "kind")
    if kind not in {k.value for k in Kind}:
        raise InvalidInput("Choose what the station is for: VR, gaming or 3D printing.", "kind")
    return {
        "name": forms.text(form, "name"),
        "kind": kind,
        "capacity": forms.integer(form, "capacity"),
        "max_group": forms.integer(form, "max_group") if forms.text(form, "max_group") else None,
        "needs_staff": forms.checkbox(form, "needs_staff"),
        "status": Status.OUT_OF_SERVICE
        if forms.checkbox(form, "out_of_service")
        else Status.AVAILABLE,
        "status_reason": forms.text(form, "status_reason"),
        "notes": forms.text(form, "notes"),
    }


def _form_page(
    request: Request, station_id: int | None, values: dict[str, Any], error: DomainError | None
) -> Response:
    _ = gettext_for(request)
    return render(
        request,
        "stations/form.html",
        {
            "station_id": station_id,
            "values": values,
            "kinds": list(Kind),
            "error": error.translated(_) if error else None,
            "error_field": error.field if error else None,
        },
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK,
    )


@router.get("")
def stations_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    return render(
        request,
        "stations/list.html",
        {"stations": service.list_stations(session), "is_admin": user.role is Role.ADMIN},
    )


@router.get("/new")
def new_station_page(request: Request, _user: PageUser) -> Response:
    values = {
        "name": "",
        "kind": "vr",
        "capacity": 3,
        "max_group": None,
        "needs_staff": False,
        "status": Status.AVAILABLE,
        "status_reason": "",
        "notes": "",
    }
    return _form_page(request, None, values, None)


@router.post("/new")
def create_station(
    request: Request, session: SessionDep, _user: PageUser, form: FormDep
) -> Response:
    try:
        service.create_station(session, _values(form))
    except DomainError as exc:
        return _form_page(request, None, dict(form), exc)
    session.commit()
    announce(request)
    return _see("/stations")


@router.get("/{station_id}")
def edit_station_page(
    request: Request, station_id: RecordId, session: SessionDep, _user: PageUser
) -> Response:
    station = service.get_station(session, station_id)
    values = {name: getattr(station, name) for name in service.EDITABLE}
    return _form_page(request, station.id, values, None)


@router.post("/{station_id}")
def update_station(
    request: Request, station_id: RecordId, session: SessionDep, _user: PageUser, form: FormDep
) -> Response:
    try:
        service.update_station(session, station_id, _values(form))
    except DomainError as exc:
        session.rollback()
        return _form_page(request, station_id, dict(form), exc)
    session.commit()
    announce(request)
    return _see("/stations")


@router.post("/{station_id}/delete")
def delete_station(
    request: Request, station_id: RecordId, session: SessionDep, _user: AdminPageUser
) -> Response:
    service.delete_station(session, station_id, request.app.state.before_station_deleted)
    session.commit()
    announce(request)
    return _see("/stations")
