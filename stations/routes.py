"""JSON API of stations: parse, call one service function, shape the answer."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from librarylab.deps import AdminUser, CurrentUser, SessionDep, announce
from librarylab.schemas import RecordId
from stations import service
from stations.schemas import StationCreate, StationOut, StationPatch

router = APIRouter(prefix="/api/stations", tags=["stations"])


@router.get("")
def read_stations(session: SessionDep, _user: CurrentUser) -> list[StationOut]:
    return [StationOut.model_validate(s) for s in service.list_stations(session)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_station(
    request: Request, body: StationCreate, session: SessionDep, _user: CurrentUser
) -> StationOut:
    station = service.create_station(session, body.values())
    session.commit()
    announce(request)
    return StationOut.model_validate(station)


@router.get("/{station_id}")
def read_station(station_id: RecordId, session: SessionDep, _user: CurrentUser) -> StationOut:
    return StationOut.model_validate(service.get_station(session, station_id))


@router.patch("/{station_id}")
def update_station(
    request: Request,
    station_id: RecordId,
    body: StationPatch,
    session: SessionDep,
    _user: CurrentUser,
) -> StationOut:
    station = service.update_station(session, station_id, body.values())
    session.commit()
    announce(request)
    return StationOut.model_validate(station)


@router.delete("/{station_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_station(
    request: Request, station_id: RecordId, session: SessionDep, _user: AdminUser
) -> None:
    service.delete_station(session, station_id, request.app.state.before_station_deleted)
    session.commit()
    announce(request)
