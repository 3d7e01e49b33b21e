"""A printer's state as the service knows it, derived from OctoPrint's answers. Pure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

# What staff and the wall see (OctoPrint's own words vary between versions).
UNKNOWN = "unknown"  # not asked yet
OPERATIONAL, PRINTING, PAUSED, ERROR = "operational", "printing", "paused", "error"
DISCONNECTED, OFFLINE, UNAUTHORIZED, STALLED = "disconnected", "offline", "unauthorized", "stalled"
# The stored API key was sealed under another LIBRARYLAB_SECRET_KEY (a backup restored with
# another key): OctoPrint is not asked at all until staff enter the key again.
KEY_SEALED = "key_sealed"
KEY_SEALED_DETAIL = (
    "the API key was sealed under another secret key (LIBRARYLAB_SECRET_KEY); enter it again"
)
# No word from OctoPrint that can be trusted: what a job on it does is unclear.
SILENT = (OFFLINE, UNAUTHORIZED, KEY_SEALED)


@dataclass(frozen=True)
class Snapshot:
    state: str = UNKNOWN
    detail: str = ""
    file: str | None = None
    progress: float | None = None  # percent
    elapsed_seconds: int | None = None
    left_seconds: int | None = None
    nozzle: tuple[float | None, float | None] | None = None  # (actual, target) °C
    bed: tuple[float | None, float | None] | None = None
    last_read: datetime | None = None  # the last good answer from OctoPrint
    progress_since: datetime | None = None  # when progress last moved

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("last_read", "progress_since"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


@dataclass(frozen=True)
class Duty:
    """What the service adds to OctoPrint's state: is the bed confirmed clear, which job."""

    bed_clear: bool
    job: dict[str, Any] | None = None  # the printer's current or last unsettled job

    def as_dict(self) -> dict[str, Any]:
        return {"bed_clear": self.bed_clear, "job": self.job}


@dataclass(frozen=True)
class RawStatus:
    """What OctoPrint says, as it says it."""

    connection: str  # "Operational", "Printing", "Closed", "Offline after error", …
    error: str = ""
    file: str | None = None
    completion: float | None = None
    print_time: int | None = None
    print_time_left: int | None = None
    temperatures: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    @property
    def idle(self) -> bool:
        """Connected and doing nothing ("Operational")."""
        return self.connection.lower() == "operational"


def from_octoprint(previous: Snapshot, raw: RawStatus, now: datetime) -> Snapshot:
    """A good read: OctoPrint's connection state in our words, with the progress clock."""
    connection = raw.connection
    lowered = connection.lower()
    if "error" in lowered:
        state, detail = ERROR, raw.error or connection
    elif lowered.startswith("printing") or lowered in ("finishing", "starting", "cancelling"):
        state, detail = PRINTING, ""
    elif lowered.startswith("paus"):
        state, detail = PAUSED, ""
    elif raw.idle:
        state, detail = OPERATIONAL, ""
    else:
        state, detail = DISCONNECTED, connection
    progress = round(raw.completion, 1) if raw.completion is not None else None
    moved = progress != previous.progress or previous.progress_since is None
    return Snapshot(
        state=state,
        detail=detail,
        file=raw.file,
        progress=progress,
        elapsed_seconds=raw.print_time,
        left_seconds=raw.print_time_left,
        nozzle=raw.temperatures.get("tool0"),
        bed=raw.temperatures.get("bed"),
        last_read=now,
        progress_since=now if moved else previous.progress_since,
    )


def after_failure(
    previous: Snapshot, *, unauthorized: bool, reason: str, now: datetime, offline_after: float
) -> Snapshot:
    """A failed read: a refused key is said at once; silence only after ``offline_after``."""
    if unauthorized:
        return replace(previous, state=UNAUTHORIZED, detail=reason)
    silent = (now - previous.last_read).total_seconds() if previous.last_read else None
    if silent is None or silent > offline_after:
        return replace(previous, state=OFFLINE, detail=reason)
    return previous


def judged(snapshot: Snapshot, now: datetime, stall_after: float) -> Snapshot:
    """Printing with progress frozen for ``stall_after`` seconds is stalled (OctoPrint
    itself keeps saying "Printing")."""
    if snapshot.state != PRINTING or snapshot.progress_since is None:
        return snapshot
    frozen = int((now - snapshot.progress_since).total_seconds())
    if frozen > stall_after:
        return replace(snapshot, state=STALLED, detail=f"no progress for {frozen} s")
    return snapshot
