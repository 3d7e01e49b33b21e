"""The staff page of the print corner: printers with their live state and bed, the job
queue with cancel and retry, demo files. Forms post back here; errors re-render the page."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from librarylab import forms
from librarylab.accounts.orm import Role
from librarylab.audit.trail import watched
from librarylab.deps import AdminPageUser, FormDep, PageUser, SessionDep
from librarylab.errors import DomainError, InvalidInput, Problem
from librarylab.schemas import RecordId
from librarylab.settings import Settings
from librarylab.templating import gettext_for, lab_time, render
from printers import files, queue, service
from printers.dispatcher import Dispatcher
from printers.file_routes import PICTURE_MAX_MB, spool, upload_form
from printers.jobs import OPEN
from printers.orm import Printer, PrintJob
from stations.model import Kind
from stations.orm import Station

router = APIRouter(prefix="/printers", include_in_schema=False)
SHOWN_JOBS = 60


def _see() -> RedirectResponse:
    return RedirectResponse("/printers", status_code=status.HTTP_303_SEE_OTHER)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _page(request: Request, session: Session, error: DomainError | None = None) -> Response:
    fleet = request.app.state.fleet
    printers = service.list_printers(session)
    recent = session.scalars(select(PrintJob).order_by(PrintJob.id.desc()).limit(SHOWN_JOBS)).all()
    jobs = sorted(recent, key=lambda j: (j.state not in OPEN, -j.id))
    _ = gettext_for(request)
    return render(
        request,
        "printers/page.html",
        {
            "printers": [(p, fleet.snapshot(p.id)) for p in printers],
            "jobs": [
                (
                    j,
                    lab_time(request, j.not_before),
                    [(e, lab_time(request, e.at)) for e in j.history],
                )
                for j in jobs
            ],
            "files": files.list_files(session),
            "stations": session.scalars(
                select(Station).where(Station.kind == Kind.PRINTING).order_by(Station.name)
            ).all(),
            "names": {p.id: p.name for p in printers},
            "is_admin": getattr(request.state.user, "role", None) is Role.ADMIN,
            "open_states": OPEN,
            "reason": lambda template, params: (
                Problem("reason", template, dict(params or {})).translated(_) if template else ""
            ),
            "error": error.translated(_) if error else None,
        },
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK,
    )


def _changed(request: Request, printer_id: int | None = None) -> None:
    """The printer ``printer_id`` (else every idle one) looks again at once: a job may start."""
    request.app.state.jobs_changed(printer_id)


@router.get("")
def printers_page(request: Request, session: SessionDep, _user: PageUser) -> Response:
    return _page(request, session)


@router.post("/new")
def create_printer(
    request: Request, session: SessionDep, _user: AdminPageUser, form: FormDep
) -> Response:
    station = forms.text(form, "station_id")
    values = {
        "name": forms.text(form, "name"),
        "url": forms.text(form, "url"),
        "api_key": forms.text(form, "api_key"),
        "station_id": forms.integer(form, "station_id") if station else None,
    }
    try:
        service.create_printer(
            session,
            request.app.state.secret_box,
            values,
            _settings(request).printer_network_list,
        )
    except DomainError as exc:
        session.rollback()
        return _page(request, session, exc)
    session.commit()
    request.app.state.printers_changed()
    return _see()


@router.post("/{printer_id}/delete")
def delete_printer(
    request: Request, printer_id: RecordId, session: SessionDep, _user: AdminPageUser
) -> Response:
    dispatcher: Dispatcher = request.app.state.dispatcher
    try:
        with watched(session, Printer, printer_id, "deleted"):
            dispatcher.delete_printer(printer_id)
    except DomainError as exc:
        return _page(request, session, exc)
    request.app.state.printers_changed()
    return _see()


@router.post("/{printer_id}/bed-cleared")
def bed_cleared(
    request: Request, printer_id: RecordId, session: SessionDep, _user: PageUser
) -> Response:
    dispatcher: Dispatcher = request.app.state.dispatcher
    try:
        with watched(session, Printer, printer_id, "bed_confirmed"):
            dispatcher.bed_cleared(printer_id, request.app.state.fleet.snapshot(printer_id))
    except DomainError as exc:
        return _page(request, session, exc)
    _changed(request, printer_id)
    return _see()


@router.post("/jobs/new")
def create_job(request: Request, session: SessionDep, _user: PageUser, form: FormDep) -> Response:
    try:
        kind, _sep, target = forms.text(form, "target").partition(":")
        if kind not in ("printer", "station") or not target.isascii() or not target.isdigit():
            raise InvalidInput("Choose a printer or a station for the job.", "target")
        not_before = None
        if forms.text(form, "not_before"):
            local = forms.moment(form, "not_before")
            not_before = local.replace(tzinfo=ZoneInfo(_settings(request).timezone))
        queue.create_job(
            session,
            {
                "file_id": forms.integer(form, "file_id"),
                f"{kind}_id": int(target),
                "not_before": not_before,
                "priority": forms.integer(form, "priority") if forms.text(form, "priority") else 0,
            },
        )
    except DomainError as exc:
        session.rollback()
        return _page(request, session, exc)
    session.commit()
    _changed(request)
    return _see()


@router.post("/jobs/{job_id}/cancel")
def cancel_job(
    request: Request, job_id: RecordId, session: SessionDep, _user: PageUser
) -> Response:
    dispatcher: Dispatcher = request.app.state.dispatcher
    try:
        with watched(session, PrintJob, job_id, "cancelled"):
            dispatcher.cancel(job_id, request.app.state.fleet.on_printer)
    except DomainError as exc:
        return _page(request, session, exc)
    _changed(request)
    return _see()


@router.post("/jobs/{job_id}/retry")
def retry_job(request: Request, job_id: RecordId, session: SessionDep, _user: PageUser) -> Response:
    dispatcher: Dispatcher = request.app.state.dispatcher
    try:
        with watched(session, PrintJob, job_id, "retried"):
            dispatcher.retry(job_id, request.app.state.fleet.on_printer)
    except DomainError as exc:
        return _page(request, session, exc)
    _changed(request)
    return _see()


async def read_page_upload(request: Request, _user: PageUser) -> AsyncIterator[FormData]:
    """The upload form, read only for someone logged in (others are sent to log in first)."""
    async with upload_form(request) as form:
        yield form


@router.post("/files/new")
def upload_file(
    request: Request,
    session: SessionDep,
    _user: PageUser,
    form: Annotated[FormData, Depends(read_page_upload)],
) -> Response:
    settings = _settings(request)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("Choose a G-code file to upload.", "file")
        picture = form.get("picture")
        with tempfile.TemporaryDirectory() as folder:
            spooled = spool(upload, Path(folder), settings.print_file_max_mb)
            photo = None
            if isinstance(picture, UploadFile) and picture.filename:
                photo = spool(picture, Path(folder), PICTURE_MAX_MB, "picture")
            files.add_file(
                session,
                settings.data_dir,
                spooled,
                upload.filename,
                forms.text(form, "name"),
                photo,
            )
    except DomainError as exc:
        session.rollback()
        return _page(request, session, exc)
    session.commit()
    return _see()
