"""JSON API of the print-job queue, and the bed-clear confirmation of a printer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from librarylab.audit.trail import watched
from librarylab.deps import CurrentUser, SessionDep
from librarylab.problems import error_responses
from librarylab.schemas import RecordId
from printers import queue
from printers.dispatcher import Dispatcher
from printers.jobs import JobState
from printers.orm import Printer, PrintJob
from printers.schemas import (
    PrinterOut,
    PrintJobCreate,
    PrintJobDetail,
    PrintJobOut,
    job_out,
    printer_out,
)

router = APIRouter(tags=["print jobs"])


def _dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


def _changed(request: Request, printer_id: int | None = None) -> None:
    """The printer ``printer_id`` (else every idle one) looks again at once: a job may start."""
    request.app.state.jobs_changed(printer_id)


@router.post("/api/print-jobs", status_code=status.HTTP_201_CREATED)
def create_print_job(
    request: Request, body: PrintJobCreate, session: SessionDep, _user: CurrentUser
) -> PrintJobDetail:
    job = queue.create_job(session, body.values())
    session.commit()
    _changed(request, job.printer_id)
    return job_out(job, queue.history(session, job.id))


@router.get("/api/print-jobs")
def read_print_jobs(
    session: SessionDep,
    _user: CurrentUser,
    state: JobState | None = None,
    visit_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> list[PrintJobOut]:
    return [job_out(job) for job in queue.list_jobs(session, state, visit_id)]


@router.get("/api/print-jobs/{job_id}")
def read_print_job(job_id: RecordId, session: SessionDep, _user: CurrentUser) -> PrintJobDetail:
    job = queue.get_job(session, job_id)
    return job_out(job, queue.history(session, job_id))


@router.post("/api/print-jobs/{job_id}/cancel", responses=error_responses(503))
def cancel_print_job(
    request: Request, job_id: RecordId, session: SessionDep, _user: CurrentUser
) -> PrintJobDetail:
    """A job on a printer is cancelled on OctoPrint first, by the printer's coordinator (503
    when it did not get to it in time); the bed then needs clearing."""
    with watched(session, PrintJob, job_id, "cancelled"):
        _dispatcher(request).cancel(job_id, request.app.state.fleet.on_printer)
    _changed(request)
    return read_print_job(job_id, session, _user)


@router.post("/api/print-jobs/{job_id}/retry", responses=error_responses(503))
def retry_print_job(
    request: Request, job_id: RecordId, session: SessionDep, _user: CurrentUser
) -> PrintJobDetail:
    with watched(session, PrintJob, job_id, "retried"):
        _dispatcher(request).retry(job_id, request.app.state.fleet.on_printer)
    _changed(request)
    return read_print_job(job_id, session, _user)


@router.post("/api/printers/{printer_id}/bed-cleared")
def confirm_bed_cleared(
    request: Request, printer_id: RecordId, session: SessionDep, _user: CurrentUser
) -> PrinterOut:
    """Staff confirm the printer's bed is empty: it may take the next job."""
    snapshot = request.app.state.fleet.snapshot(printer_id)
    with watched(session, Printer, printer_id, "bed_confirmed"):
        printer = _dispatcher(request).bed_cleared(printer_id, snapshot)
    _changed(request, printer_id)
    return printer_out(printer, snapshot)
