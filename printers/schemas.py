"""JSON shapes of the printers API. The API key is accepted on write and never returned."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from librarylab.schemas import PatchModel, StrictModel
from printers.model import Snapshot
from printers.orm import Printer


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
        "state": (snapshot or Snapshot()).as_dict(),
    }
