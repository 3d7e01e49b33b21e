"""The print-job queue: create, list, cancel, retry, confirm a clear bed, claim the next job.

Every state change is a compare-and-set (``UPDATE … WHERE state = <expected>``) stored
together with its history row, so two service instances, or a staff click racing the
dispatcher, can never both move the same job. Functions take a session and never commit.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from librarylab.audit.trail import record
from librarylab.errors import Conflict, InvalidInput, NotFound, Problem
from printers.jobs import ACTIVE, ALLOWED, ON_PRINTER, JobState, remote_name, why
from printers.orm import JobEvent, Printer, PrintFile, PrintJob
from printers.service import active_job, check_printing_station, get_printer
from visits.model import VisitStatus
from visits.orm import Visit

PRIORITY_RANGE = (-100, 100)


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value else None


def move(
    session: Session, job: PrintJob, to: JobState, reason: Problem, now: datetime | None = None
) -> None:
    """One transition, only from the state the caller saw, with its history row."""
    now = now or _now()
    before = job.state
    if to not in ALLOWED[before]:
        raise Conflict(
            "Job {id} is {state}; it cannot become {to}.", "state", id=job.id, state=before, to=to
        )
    done = session.execute(
        update(PrintJob)
        .where(PrintJob.id == job.id, PrintJob.state == before)
        .values(state=to, reason=reason.template, reason_params=reason.params, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("Job {id} changed meanwhile; reload and try again.", "state", id=job.id)
    record(
        session, job, "changed", {"state": (before, to), "reason": (job.reason, reason.template)}
    )
    changed = {"state": to, "reason": reason.template, "reason_params": reason.params}
    for name, value in {**changed, "updated_at": now}.items():
        set_committed_value(job, name, value)
    session.add(
        JobEvent(
            job_id=job.id,
            at=now,
            from_state=before,
            to_state=to,
            reason=reason.template,
            reason_params=reason.params,
        )
    )
    session.flush()


def get_job(session: Session, job_id: int) -> PrintJob:
    job = session.get(PrintJob, job_id, populate_existing=True)
    if job is None:
        raise NotFound(
            "There is no print job with id {id}; GET /api/print-jobs lists them.", id=job_id
        )
    return job


def history(session: Session, job_id: int) -> Sequence[JobEvent]:
    return session.scalars(
        select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
    ).all()


def list_jobs(
    session: Session, state: JobState | None = None, visit_id: int | None = None
) -> Sequence[PrintJob]:
    query = select(PrintJob).order_by(PrintJob.id)
    if state is not None:
        query = query.where(PrintJob.state == state)
    if visit_id is not None:
        query = query.where(PrintJob.visit_id == visit_id)
    return session.scalars(query).all()


def create_job(
    session: Session, values: Mapping[str, Any], now: datetime | None = None
) -> PrintJob:
    """Queue a file for one printer or for any printer of a 3D-printing station."""
    now = now or _now()
    file_id, printer_id, station_id = (
        values.get("file_id"),
        values.get("printer_id"),
        values.get("station_id"),
    )
    if (printer_id is None) == (station_id is None):
        raise InvalidInput("Give either printer_id or station_id (exactly one).", "printer_id")
    if session.get(PrintFile, file_id) is None:
        raise InvalidInput(
            "There is no print file with id {id}; GET /api/print-files lists them.",
            "file_id",
            id=file_id,
        )
    if printer_id is not None and session.get(Printer, printer_id) is None:
        raise InvalidInput(
            "There is no printer with id {id}; GET /api/printers lists them.",
            "printer_id",
            id=printer_id,
        )
    priority = values.get("priority") or 0
    if not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        raise InvalidInput("The priority goes from -100 to 100.", "priority")
    if station_id is not None:
        check_printing_station(session, station_id)
    visit_id = values.get("visit_id")
    if visit_id is not None and session.get(Visit, visit_id) is None:
        raise InvalidInput(
            "There is no visit with id {id}; GET /api/visits lists them.", "visit_id", id=visit_id
        )
    job = PrintJob(
        file_id=file_id,
        printer_id=printer_id,
        station_id=station_id,
        visit_id=visit_id,
        group_id=values.get("group_id"),
        group_name=values.get("group_name"),
        slot_index=values.get("slot_index"),
        not_before=_utc(values.get("not_before")),
        not_after=_utc(values.get("not_after")),
        priority=priority,
        state=JobState.QUEUED,
        reason="queued",
        reason_params={},
        created_at=now,
        updated_at=now,
    )
    if job.not_before and job.not_after and job.not_after <= job.not_before:
        raise InvalidInput("not_after must be later than not_before.", "not_after")
    session.add(job)
    session.flush()
    session.add(
        JobEvent(
            job_id=job.id, at=now, from_state=None, to_state=job.state, reason="", reason_params={}
        )
    )
    session.flush()
    return job


def cancel_waiting(session: Session, job: PrintJob, reason: Problem) -> None:
    """Cancel a job the printer is not busy with (the dispatcher cancels active ones)."""
    if job.state in ACTIVE:
        raise Conflict("Job {id} is on a printer; it is cancelled there first.", id=job.id)
    move(session, job, JobState.CANCELLED, reason)


def retry(session: Session, job: PrintJob) -> None:
    """Staff put a failed, cancelled or unknown job back in the queue; it still waits for
    the printer's bed to be confirmed clear."""
    if JobState.QUEUED not in ALLOWED[job.state]:
        raise Conflict(
            "Only failed, cancelled or unknown jobs can be retried; job {id} is {state}.",
            "state",
            id=job.id,
            state=job.state,
        )
    if job.printer_id is None and job.station_id is None:
        raise Conflict(
            "Job {id} has no printer or station any more (deleted); queue a new job instead.",
            "state",
            id=job.id,
        )
    move(session, job, JobState.QUEUED, why("retried by staff"))
    job.assigned_printer_id = None
    session.flush()


def reschedule(session: Session, job: PrintJob, values: Mapping[str, Any]) -> bool:
    """Change a queued job's target, file or time; False when it left the queue meanwhile."""
    done = session.execute(
        update(PrintJob)
        .where(PrintJob.id == job.id, PrintJob.state == JobState.QUEUED)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    record(session, job, "changed", {name: (getattr(job, name), v) for name, v in values.items()})
    for name, value in values.items():
        set_committed_value(job, name, value)
    return True


def open_jobs_on(session: Session, printer_id: int) -> Sequence[PrintJob]:
    """Jobs sent to this printer that are not settled: being sent, printing or unknown."""
    return session.scalars(
        select(PrintJob)
        .where(
            PrintJob.assigned_printer_id == printer_id,
            PrintJob.state.in_((*ACTIVE, JobState.UNKNOWN)),
        )
        .order_by(PrintJob.id)
    ).all()


def before_printer_deleted(session: Session, printer_id: int) -> None:
    """Refused while something of a job may be on the printer: once the printer is gone that
    job could never be checked again (a retry would not ask whether it still prints). Jobs
    waiting for this printer are cancelled: nothing else would ever take them."""
    held = session.scalars(
        select(PrintJob)
        .where(PrintJob.assigned_printer_id == printer_id, PrintJob.state.in_(ON_PRINTER))
        .order_by(PrintJob.id)
    ).first()
    if held is not None and held.state in ACTIVE:
        raise Conflict(
            "The printer is busy with job {job}; cancel the job first.", "id", job=held.id
        )
    if held is not None and held.state is JobState.UNKNOWN:
        raise Conflict(
            "Job {job} on this printer is unclear and may still be printing: check the "
            "printer, then cancel or retry the job before deleting the printer.",
            "id",
            job=held.id,
        )
    if held is not None:
        raise Conflict(
            "Job {job} has finished on this printer and its print may still be on the bed: "
            "take it off and confirm the bed clear first.",
            "id",
            job=held.id,
        )
    _cancel_waiting_for(session, PrintJob.printer_id == printer_id, why("its printer was deleted"))


def before_station_deleted(session: Session, station_id: int) -> None:
    """Jobs for any printer of the station are cancelled (jobs already on a printer go on
    there; the station's printers stay registered, without a station)."""
    _cancel_waiting_for(
        session,
        and_(PrintJob.printer_id.is_(None), PrintJob.station_id == station_id),
        why("its station was deleted"),
    )


def _cancel_waiting_for(session: Session, target: ColumnElement[bool], reason: Problem) -> None:
    waiting = select(PrintJob).where(PrintJob.state == JobState.QUEUED, target)
    for job in session.scalars(waiting).all():
        move(session, job, JobState.CANCELLED, reason)


def bed_cleared(session: Session, printer_id: int, printing: bool) -> Printer:
    """Staff confirm the bed is empty: finished jobs are done, the printer may take the next.

    Refused while a job is on the printer or unclear (it may still be printing there); the
    caller holds the printer's dispatcher lock, so no step changes the printer meanwhile.
    """
    printer = get_printer(session, printer_id)
    if active_job(session, printer_id) is not None or printing:
        raise Conflict(
            "The printer is printing; confirm the bed after the print has ended.", "printer_id"
        )
    unclear = session.scalar(
        select(PrintJob.id).where(
            PrintJob.assigned_printer_id == printer_id, PrintJob.state == JobState.UNKNOWN
        )
    )
    if unclear is not None:
        raise Conflict(
            "Job {id} is unclear and may still be printing: check the printer, then cancel or "
            "retry that job before confirming the bed.",
            "printer_id",
            id=unclear,
        )
    for job in session.scalars(
        select(PrintJob).where(
            PrintJob.assigned_printer_id == printer_id,
            PrintJob.state == JobState.AWAITING_BED_CLEAR,
        )
    ):
        move(session, job, JobState.DONE, why("bed cleared by staff"))
    printer.bed_clear = True
    session.flush()
    return printer


def claim_next(session: Session, printer: Printer, now: datetime | None = None) -> PrintJob | None:
    """Take the next eligible job for this printer, or None.

    The claim flips the printer's ``bed_clear`` from true to false and the job from queued
    to uploading, each in one conditional UPDATE: of two instances racing, one wins.
    """
    now = now or _now()
    target = PrintJob.printer_id == printer.id
    if printer.station_id is not None:
        target = or_(
            target, and_(PrintJob.printer_id.is_(None), PrintJob.station_id == printer.station_id)
        )
    waiting = select(PrintJob).where(PrintJob.state == JobState.QUEUED, target)
    passed = why("its time window passed before a printer was free")
    for late in session.scalars(waiting.where(PrintJob.not_after <= now)):
        with contextlib.suppress(Conflict):  # settled meanwhile by someone else
            move(session, late, JobState.CANCELLED, passed)
    cancelled_visits = select(Visit.id).where(Visit.status == VisitStatus.CANCELLED)
    orphans = waiting.where(
        PrintJob.group_id.is_not(None),
        or_(PrintJob.visit_id.is_(None), PrintJob.visit_id.in_(cancelled_visits)),
    )
    gone = why("its visit was cancelled or deleted")
    for orphan in session.scalars(orphans):
        with contextlib.suppress(Conflict):
            move(session, orphan, JobState.CANCELLED, gone)
    candidates = session.scalars(
        waiting.where(or_(PrintJob.not_before.is_(None), PrintJob.not_before <= now))
        .where(or_(PrintJob.not_after.is_(None), PrintJob.not_after > now))
        .order_by(PrintJob.priority.desc(), PrintJob.not_before.nulls_first(), PrintJob.id)
    ).all()
    if not candidates:
        return None
    claimed = session.execute(
        update(Printer)
        .where(Printer.id == printer.id, Printer.bed_clear.is_(True))
        .values(bed_clear=False)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    set_committed_value(printer, "bed_clear", False)
    for job in candidates:
        try:
            move(
                session,
                job,
                JobState.UPLOADING,
                why("sending to {printer}", printer=printer.name),
                now,
            )
        except Conflict:
            continue  # cancelled meanwhile, or taken by another printer of the station
        job.assigned_printer_id = printer.id
        job.remote_name = remote_name(job.id, secrets.token_hex(3))
        session.flush()
        return job
    printer.bed_clear = True  # nothing taken after all
    session.flush()
    return None
