"""JSON API of rotation plans, and their calendar and spreadsheet exports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from librarylab.deps import CurrentUser, SessionDep, SettingsDep, announce
from librarylab.schemas import RecordId
from librarylab.settings import Settings
from scheduler import exports, service
from scheduler.schemas import PlanIn, PlanOut, ReplanIn, plan_out

router = APIRouter(prefix="/api/visits/{visit_id}/plan", tags=["plans"])


def defaults(settings: SettingsDep) -> service.Defaults:
    return planning_defaults(settings)


def planning_defaults(settings: Settings) -> service.Defaults:
    return service.Defaults(
        slot_minutes=settings.slot_minutes,
        changeover_minutes=settings.changeover_minutes,
        time_limit_seconds=settings.plan_time_limit_seconds,
        timezone=settings.timezone,
        stations_per_staff=settings.stations_per_staff,
    )


DefaultsDep = Annotated[service.Defaults, Depends(defaults)]
PLAN_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "Invalid input (`errors` lists every invalid value), or no plan fits: "
        "`detail` says why, `fixes` what would help."
    }
}


@router.post("", responses=PLAN_ERRORS)
def create_plan(
    request: Request,
    visit_id: RecordId,
    session: SessionDep,
    _user: CurrentUser,
    lab: DefaultsDep,
    body: PlanIn | None = None,
) -> PlanOut:
    view = service.make_plan(session, visit_id, (body or PlanIn()).options(), lab)
    session.commit()
    announce(request)
    return plan_out(view)


@router.get("")
def read_plan(visit_id: RecordId, session: SessionDep, _user: CurrentUser) -> PlanOut:
    return plan_out(service.get_plan(session, visit_id))


@router.post("/replan", responses=PLAN_ERRORS)
def replan(
    request: Request,
    visit_id: RecordId,
    body: ReplanIn,
    session: SessionDep,
    _user: CurrentUser,
    lab: DefaultsDep,
) -> PlanOut:
    view = service.replan(
        session,
        visit_id,
        lab,
        at=body.at,
        station_out=body.station_out,
        station_in=body.station_in,
        group_leaves=body.group_leaves,
        staff_leaves=body.staff_leaves,
    )
    session.commit()
    announce(request)
    return plan_out(view)


@router.get(".csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def read_plan_csv(visit_id: RecordId, session: SessionDep, _user: CurrentUser) -> Response:
    body = exports.plan_csv(session, visit_id)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="plan-{visit_id}.csv"'},
    )


@router.get(".ics", response_class=Response, responses={200: {"content": {"text/calendar": {}}}})
def read_plan_calendar(
    visit_id: RecordId, session: SessionDep, settings: SettingsDep, _user: CurrentUser
) -> Response:
    body = exports.plan_calendar(
        session, visit_id, timezone=settings.timezone, lab_name=settings.lab_name
    )
    return Response(body, media_type="text/calendar; charset=utf-8")
