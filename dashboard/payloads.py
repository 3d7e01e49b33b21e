"""The payloads the wall accepts, one model per topic kind (see docs/mqtt.md). Pure.

Anyone who can publish to the broker reaches the wall, so every message is checked before
it reaches the state: types without coercion (``"42"`` is no number), ranges, lengths,
and ids that match the topic. What the wall keeps is the validated model, so fields it does
not know never reach a page. Extra fields are ignored (a later schema version may add some).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

MAX_LIST = 200  # groups, slots, assignments, visits of a day


def _moment(text: str) -> str:
    """An ISO 8601 moment with its UTC offset; kept as sent (the browser reads it)."""
    if datetime.fromisoformat(text).utcoffset() is None:
        raise ValueError("a time without a UTC offset")
    return text


def _stamp(text: str) -> str:
    datetime.fromisoformat(text)
    return text


def _day(text: str) -> str:
    datetime.strptime(text, "%Y-%m-%d")
    return text


def _clock(text: str) -> str:
    datetime.strptime(text, "%H:%M")
    return text


Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
Name = Annotated[str, Field(max_length=200)]
Text = Annotated[str, Field(max_length=4000)]  # file names, reasons, OctoPrint's errors
Moment = Annotated[str, Field(max_length=40), AfterValidator(_moment)]
Day = Annotated[str, Field(max_length=10), AfterValidator(_day)]
Clock = Annotated[str, Field(max_length=5), AfterValidator(_clock)]
Count = Annotated[int, Field(ge=0, le=10_000)]
Seconds = Annotated[int, Field(ge=0, le=10**7)]
Degrees = Annotated[float, Field(ge=-100, le=1000, allow_inf_nan=False)]


class Payload(BaseModel):
    """Every message: strict types, extra fields dropped, the envelope's ``ts`` and ``v``."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    ts: Annotated[str, Field(max_length=40)] | None = None
    v: Annotated[int, Field(ge=1, le=1000)] = 1


class ServiceStatus(Payload):
    state: Literal["online", "offline"]


class StationState(Payload):
    id: Id
    name: Name
    kind: Literal["vr", "gaming", "printing"]
    capacity: Count = 0
    max_group: Count | None = None  # people at it together, taking turns (None: capacity)
    status: Literal["available", "out_of_service"]
    status_reason: Text = ""
    current_group: Name | None = None
    visit_id: Id | None = None


class Heartbeat(Payload):
    """``ts`` may lack its offset (a shell script's ``date``): it is then read as UTC."""

    state: Literal["online", "offline"]
    ts: Annotated[str, Field(max_length=40), AfterValidator(_stamp)] | None = None


class Job(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    id: Id
    state: Literal[
        "queued",
        "uploading",
        "printing",
        "finished",
        "awaiting_bed_clear",
        "done",
        "failed",
        "cancelled",
        "unknown",
    ]
    file: Name
    visit_id: Id | None = None
    group_id: Id | None = None
    group: Name | None = None


class PrinterState(Payload):
    id: Id
    name: Name
    state: Literal[
        "unknown",
        "operational",
        "printing",
        "paused",
        "error",
        "disconnected",
        "offline",
        "unauthorized",
        "key_sealed",
        "stalled",
    ]
    detail: Text = ""
    file: Text | None = None
    progress: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    elapsed_seconds: Seconds | None = None
    left_seconds: Seconds | None = None
    nozzle: Annotated[list[Degrees | None], Field(min_length=2, max_length=2)] | None = None
    bed: Annotated[list[Degrees | None], Field(min_length=2, max_length=2)] | None = None
    last_read: Moment | None = None
    progress_since: Moment | None = None
    bed_clear: bool = True
    job: Job | None = None


class Visit(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    id: Id
    library: Name
    town: Name = ""
    topic: Text = ""
    participants: Count = 0
    date: Day
    start: Clock
    end: Clock
    hands_on_start: Clock | None = None
    hands_on_end: Clock | None = None


class CurrentVisit(Payload):
    current: Visit | None
    next: Visit | None
    today: Annotated[list[Visit], Field(max_length=MAX_LIST)]


class Group(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    id: Id
    name: Name
    size: Count


class Assignment(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    group_id: Id
    group: Name
    size: Count
    station_id: Id
    station: Name
    kind: Literal["vr", "gaming", "printing", ""]
    needs_staff: bool = False  # a staff member supervises it


class Slot(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    index: Count
    start: Moment
    end: Moment
    assignments: Annotated[list[Assignment], Field(max_length=MAX_LIST)]


class GroupNow(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    group: Name
    current: Name | None = None
    next: Name | None = None


class Now(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    slot: Count | None = None
    next_change: Moment | None = None
    groups: Annotated[list[GroupNow], Field(max_length=MAX_LIST)] = []


class Rotation(Payload):
    visit_id: Id
    library: Name
    groups: Annotated[list[Group], Field(max_length=MAX_LIST)]
    slots: Annotated[list[Slot], Field(max_length=MAX_LIST)]
    now: Now


# Topic kind (Topics.parse) → its model.
PAYLOADS: dict[str, type[Payload]] = {
    "service_status": ServiceStatus,
    "station_state": StationState,
    "station_heartbeat": Heartbeat,
    "printer_state": PrinterState,
    "current_visit": CurrentVisit,
    "rotation": Rotation,
}


def reason(error: ValidationError) -> str:
    """Where the payload is wrong, without any of its values (they may be hostile or huge)."""
    places = {".".join(str(part) for part in e["loc"]) or "payload" for e in error.errors()}
    return ", ".join(sorted(places)[:5])
