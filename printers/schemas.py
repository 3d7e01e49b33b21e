"""JSON shapes of the printers API. The API key is accepted on write and never returned."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from pydantic import AwareDatetime, Field

from librarylab.errors import Problem
from librarylab.schemas import PatchModel, StrictModel
from printers.model import Snapshot
from printers.orm import JobEvent, Printer, PrintJob


class PrinterCreate(StrictModel):
    name: str = Field(min_length=1, max_length=80)
    url: str = Field(min_length=1, max_length=300)
    api_key: str = Field(min_length=1, max_length=200)
    station_id: int | None = Field(default=None, ge=1)


class PrinterPatch(PatchModel):
    nullable: ClassVar[frozenset[str]] = frozenset({"station_id"})

    name: str | None = Field(default=None, min_length=1, max_length=80)
    url: str | None = Field(default=None, min_length=1, max_length=300)
    api_key: str | None = Field(default=None, min_length=1, max_length=200)
    station_id: int | None = Field(default=None, ge=1)


def printer_out(printer: Printer, snapshot: Snapshot | None) -> dict[str, Any]:
    return {
        "id": printer.id,
        "name": printer.name,
        "url": printer.url,
        "station_id": printer.station_id,
        "bed_clear": printer.bed_clear,
        "state": (snapshot or Snapshot()).as_dict(),
    }


class PrintJobCreate(StrictModel):
    file_id: int = Field(ge=1, le=2_147_483_647)
    printer_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    station_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    not_before: AwareDatetime | None = None
    not_after: AwareDatetime | None = None
    priority: int = Field(default=0, ge=-100, le=100)
    visit_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    group_id: int | None = Field(default=None, ge=1, le=1000)
    slot_index: int | None = Field(default=None, ge=0, le=1000)


def explained(template: str, params: dict[str, str] | None) -> str:
    return Problem("reason", template, dict(params or {})).message


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_out(job: PrintJob, history: Sequence[JobEvent] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id,
        "state": job.state.value,
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
        "not_before": _when(job.not_before),
        "not_after": _when(job.not_after),
        "priority": job.priority,
        "created_at": _when(job.created_at),
        "updated_at": _when(job.updated_at),
    }
    if history is not None:
        data["history"] = [
            {
                "at": _when(event.at),
                "from": event.from_state.value if event.from_state else None,
                "to": event.to_state.value,
                "reason": explained(event.reason, event.reason_params),
            }
            for event in history
        ]
    return data
