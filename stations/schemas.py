"""JSON shapes of the stations API (a public contract: add fields, never rename)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field, StrictBool, StrictInt

from librarylab.schemas import PatchModel, StrictModel
from stations.model import MAX_CAPACITY, MAX_NAME_LENGTH, MAX_NOTES_LENGTH, Kind, Status

MAX_GROUP = (
    "people who can be at the station together, taking turns (at least the capacity); "
    "null: only as many as the capacity"
)


class StationCreate(StrictModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    kind: Kind
    capacity: StrictInt = Field(ge=1, le=MAX_CAPACITY)
    max_group: StrictInt | None = Field(default=None, ge=1, le=MAX_CAPACITY, description=MAX_GROUP)
    needs_staff: StrictBool = False
    status: Status = Status.AVAILABLE
    status_reason: str = Field(default="", max_length=200)
    notes: str = Field(default="", max_length=MAX_NOTES_LENGTH)


class StationPatch(PatchModel):
    nullable = frozenset({"max_group"})

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    kind: Kind | None = None
    capacity: StrictInt | None = Field(default=None, ge=1, le=MAX_CAPACITY)
    max_group: StrictInt | None = Field(default=None, ge=1, le=MAX_CAPACITY, description=MAX_GROUP)
    needs_staff: StrictBool | None = None
    status: Status | None = None
    status_reason: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=MAX_NOTES_LENGTH)


class StationOut(StrictModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: Kind
    capacity: int
    max_group: int | None = Field(description=MAX_GROUP)
    needs_staff: bool
    status: Status
    status_reason: str
    status_since: datetime
    notes: str
