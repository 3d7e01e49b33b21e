"""JSON shapes of the printers API. The API key is accepted on write and never returned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, overload

from pydantic import Field, StrictInt

from librarylab.errors import Problem
from librarylab.schemas import Moment, OutModel, PatchModel, StrictModel, Timestamp
from printers.jobs import JobState
from printers.model import Snapshot
from printers.orm import JobEvent, Printer, PrintFile, PrintJob


class PrinterCreate(StrictModel):
    name: str = Field(min_length=1, max_length=80)
    url: str = Field(min_length=1, max_length=300)
    api_key: str = Field(min_length=1, max_length=200)
    station_id: StrictInt | None = Field(default=None, ge=1)


class PrinterPatch(PatchModel):
    nullable: ClassVar[frozenset[str]] = frozenset({"station_id"})

    name: str | None = Field(default=None, min_length=1, max_length=80)
    url: str | None = Field(default=None, min_length=1, max_length=300)
    api_key: str | None = Field(default=None, min_length=1, max_length=200)
    station_id: StrictInt | None = Field(default=None, ge=1)


Temperatures = tuple[float | None, float | None]


class PrinterStateOut(OutModel):
    """What the printer's coordinator last saw."""

    state: str = Field(
        description="unknown, operational, printing, paused, error, disconnected, offline, "
        "unauthorized, key_sealed (the API key was sealed under another secret key: enter it "
        "again) or stalled"
    )
    detail: str = Field(
        description="why: OctoPrint's firmware error, or a status and a class of reason "
        "(never the body of an answer)"
    )
    file: str | None
    progress: float | None = Field(description="percent")
    elapsed_seconds: int | None
    left_seconds: int | None
    nozzle: Temperatures | None = Field(description="(actual, target) °C")
    bed: Temperatures | None = Field(description="(actual, target) °C")
    last_read: Timestamp | None = Field(description="the last good answer from OctoPrint")
    progress_since: Timestamp | None = Field(description="when progress last moved")


class PrinterOut(OutModel):
    """A registered printer; its API key is never shown."""

    id: int
    name: str
    url: str
    station_id: int | None
    bed_clear: bool
    state: PrinterStateOut


def printer_out(printer: Printer, snapshot: Snapshot | None) -> PrinterOut:
    return PrinterOut(
        id=printer.id,
        name=printer.name,
        url=printer.url,
        station_id=printer.station_id,
        bed_clear=printer.bed_clear,
        state=PrinterStateOut.model_validate(snapshot or Snapshot(), from_attributes=True),
    )


class PrintFileOut(OutModel):
    """A demo G-code file."""

    id: int
    name: str
    filename: str
    size: int = Field(description="bytes")
    estimated_seconds: int | None
    picture: str | None = Field(description="the address of its picture, if it has one")


def file_out(record: PrintFile) -> PrintFileOut:
    return PrintFileOut(
        id=record.id,
        name=record.name,
        filename=record.filename,
        size=record.size,
        estimated_seconds=record.estimated_seconds,
        picture=f"/api/print-files/{record.id}/picture" if record.has_picture else None,
    )


class PrintJobCreate(StrictModel):
    file_id: StrictInt = Field(ge=1, le=2_147_483_647)
    printer_id: StrictInt | None = Field(default=None, ge=1, le=2_147_483_647)
    station_id: StrictInt | None = Field(default=None, ge=1, le=2_147_483_647)
    not_before: Moment | None = None
    not_after: Moment | None = None
    priority: StrictInt = Field(default=0, ge=-100, le=100)
    visit_id: StrictInt | None = Field(default=None, ge=1, le=2_147_483_647)
    group_id: StrictInt | None = Field(default=None, ge=1, le=1000)
    slot_index: StrictInt | None = Field(default=None, ge=0, le=1000)


def explained(template: str, params: dict[str, str] | None) -> str:
    return Problem("reason", template, dict(params or {})).message


class PrintJobOut(OutModel):
    """A print job as listed."""

    id: int
    state: JobState
    reason: str
    file_id: int
    file_name: str
    printer_id: int | None
    station_id: int | None
    assigned_printer_id: int | None
    remote_name: str | None
    visit_id: int | None
    group_id: int | None
    group_name: str | None
    slot_index: int | None
    not_before: Timestamp | None
    not_after: Timestamp | None
    priority: int
    created_at: Timestamp
    updated_at: Timestamp


class JobEventOut(OutModel):
    """One state change of a job."""

    at: Timestamp
    from_: JobState | None = Field(alias="from")
    to: JobState
    reason: str


class PrintJobDetail(PrintJobOut):
    """A print job with its history."""

    history: list[JobEventOut]


@overload
def job_out(job: PrintJob) -> PrintJobOut: ...


@overload
def job_out(job: PrintJob, history: Sequence[JobEvent]) -> PrintJobDetail: ...


def job_out(job: PrintJob, history: Sequence[JobEvent] | None = None) -> PrintJobOut:
    data: dict[str, Any] = {
        "id": job.id,
        "state": job.state,
        "reason": explained(job.reason, job.reason_params),
        "file_id": job.file_id,
        "file_name": job.file.name,
        "printer_id": job.printer_id,
        "station_id": job.station_id,
        "assigned_printer_id": job.assigned_printer_id,
        "remote_name": job.remote_name,
        "visit_id": job.visit_id,
        "group_id": job.group_id,
        "group_name": job.group_name,
        "slot_index": job.slot_index,
        "not_before": job.not_before,
        "not_after": job.not_after,
        "priority": job.priority,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }
    if history is None:
        return PrintJobOut.model_validate(data)
    data["history"] = [
        {
            "at": event.at,
            "from": event.from_state,
            "to": event.to_state,
            "reason": explained(event.reason, event.reason_params),
        }
        for event in history
    ]
    return PrintJobDetail.model_validate(data)
