"""Station use cases. Functions take a session and plain values, and never commit."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from librarylab.errors import Conflict, InvalidInput, NotFound, reject_unknown_fields
from stations.model import Kind, Status, station_problems
from stations.orm import Station

EDITABLE = (
    "name",
    "kind",
    "capacity",
    "max_group",
    "needs_staff",
    "status",
    "status_reason",
    "notes",
)


def list_stations(session: Session) -> Sequence[Station]:
    return session.scalars(select(Station).order_by(Station.kind, Station.name)).all()


def get_station(session: Session, station_id: int) -> Station:
    station = session.get(Station, station_id)
    if station is None:
        raise NotFound(
            "There is no station with id {id}; GET /api/stations lists them.", id=station_id
        )
    return station


def create_station(session: Session, values: Mapping[str, Any]) -> Station:
    fields: dict[str, Any] = {
        "max_group": None,
        "needs_staff": False,
        "status": Status.AVAILABLE,
        "status_reason": "",
        "notes": "",
        **values,
    }
    _check(session, fields, station_id=None)
    station = Station(**_normalised(fields), status_since=datetime.now(UTC))
    session.add(station)
    session.flush()
    return station


def update_station(session: Session, station_id: int, changes: Mapping[str, Any]) -> Station:
    """Apply a partial change; a rejected change leaves the station as it was."""
    station = get_station(session, station_id)
    reject_unknown_fields(changes, EDITABLE)
    fields = {name: getattr(station, name) for name in EDITABLE} | dict(changes)
    if fields["status"] == Status.AVAILABLE and "status_reason" not in changes:
        fields["status_reason"] = ""
    _check(session, fields, station_id=station.id)
    previous_status = station.status
    for name, value in _normalised(fields).items():
        setattr(station, name, value)
    if station.status != previous_status:
        station.status_since = datetime.now(UTC)
    session.flush()
    return station


def delete_station(
    session: Session, station_id: int, before: Callable[[Session, int], None] | None = None
) -> None:
    """``before`` lets features that keep work for the station settle it in the same
    transaction (the composition root passes the print queue's; stations import no feature)."""
    station = get_station(session, station_id)
    if before is not None:
        before(session, station.id)
    session.delete(station)
    session.flush()


def _normalised(fields: Mapping[str, Any]) -> dict[str, Any]:
    result = {name: fields[name] for name in EDITABLE}
    result["name"] = str(result["name"]).strip()
    result["kind"] = Kind(result["kind"])
    result["status"] = Status(result["status"])
    result["status_reason"] = str(result["status_reason"]).strip()
    result["max_group"] = None if result["max_group"] is None else int(result["max_group"])
    if result["status"] is Status.AVAILABLE:
        result["status_reason"] = ""
    return result


def _check(session: Session, fields: Mapping[str, Any], station_id: int | None) -> None:
    problems = station_problems(
        name=str(fields["name"]),
        capacity=int(fields["capacity"]),
        status=Status(fields["status"]),
        status_reason=str(fields["status_reason"]),
        notes=str(fields["notes"] or ""),
        max_group=None if fields.get("max_group") is None else int(fields["max_group"]),
    )
    if problems:
        raise InvalidInput.from_problem(problems[0])
    name = str(fields["name"]).strip()
    clash = select(Station.id).where(func.lower(Station.name) == name.lower())
    if station_id is not None:
        clash = clash.where(Station.id != station_id)
    if session.scalar(clash) is not None:
        raise Conflict(
            "A station named '{name}' already exists: choose another name.", "name", name=name
        )
