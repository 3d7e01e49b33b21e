"""Staff pages for a visit's rotation plan: plan, pin, re-plan, print."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from librarylab import forms
from librarylab.deps import FormDep, PageUser, SessionDep, SettingsDep, announce
from librarylab.errors import DomainError, InvalidInput, NotFound
from librarylab.schemas import RecordId
from librarylab.templating import gettext_for, render
from scheduler import service
from scheduler.model import Plan
from scheduler.routes import planning_defaults
from stations.model import Kind
from stations.orm import Station as StationRow
from stations.service import list_stations
from visits.orm import Visit
from visits.service import get_visit

router = APIRouter(prefix="/visits/{visit_id}/plan", include_in_schema=False)

# "Anna (ohne VR)", "Ben (no VR, no gaming)": the kinds a person avoids.
_AVOIDS = re.compile(r"\((?P<marks>[^)]*)\)\s*$")
_KIND_WORDS = {
    "vr": "vr",
    "gaming": "gaming",
    "3d": "printing",
    "3d-druck": "printing",
    "druck": "printing",
    "printing": "printing",
    "3d printing": "printing",
}


def parse_people(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """One person a line; marks in brackets, e.g. ``Anna (ohne VR)``."""
    people = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        avoids: list[str] = []
        found = _AVOIDS.search(line)
        if found:
            line = line[: found.start()].strip()
            for mark in found.group("marks").split(","):
                word = re.sub(r"^(ohne|no|kein|keine)\s+", "", mark.strip().lower())
                if word not in _KIND_WORDS:
                    raise InvalidInput(
                        "'{mark}' is not a mark the planner knows: write e.g. (ohne VR).",
                        "people",
                        mark=mark.strip(),
                    )
                avoids.append(_KIND_WORDS[word])
        people.append((line, tuple(sorted(set(avoids)))))
    return tuple(people)


def _optional_int(form: FormData, name: str) -> int | None:
    return forms.integer(form, name) if forms.text(form, name) else None


def _options(form: FormData, pins: tuple[tuple[int, int, int], ...]) -> service.PlanOptions:
    return service.PlanOptions(
        slot_minutes=_optional_int(form, "slot_minutes"),
        changeover_minutes=_optional_int(form, "changeover_minutes"),
        group_count=_optional_int(form, "group_count"),
        max_group_size=_optional_int(form, "max_group_size"),
        pins=pins,
        accept_partial=forms.checkbox(form, "accept_partial"),
        people=parse_people(forms.text(form, "people")),
    )


@dataclass
class _Page:
    """What the plan page shows besides the plan."""

    error: str | None = None
    fixes: list[str] | None = None


def _now_default(visit: Visit, timezone: str) -> str:
    """Now, when the visit is today; otherwise half time of the hands-on block."""
    now = datetime.now(ZoneInfo(timezone))
    if now.date() == visit.date:
        return now.strftime("%H:%M")
    if visit.hands_on_start and visit.hands_on_end:
        start = visit.hands_on_start.hour * 60 + visit.hands_on_start.minute
        end = visit.hands_on_end.hour * 60 + visit.hands_on_end.minute
        middle = (start + end) // 2
        return f"{middle // 60:02d}:{middle % 60:02d}"
    return now.strftime("%H:%M")


def _show(
    request: Request,
    session: Session,
    visit_id: int,
    timezone: str,
    page: _Page,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    _ = gettext_for(request)
    visit = get_visit(session, visit_id)
    try:
        view: service.PlanView | None = service.get_plan(session, visit_id)
    except NotFound:
        view = None
    stations = _ordered(list_stations(session))
    by_id = {s.id: s for s in stations}
    options: dict[str, Any] = view.stored.options if view else {}
    outages = {int(k): v for k, v in view.stored.inputs.get("outages", {}).items()} if view else {}
    columns = stations
    if view:
        used = {a.station_id for slot in view.plan.slots for a in slot.assignments}
        columns = [s for s in stations if s.id in used or s.status.value == "available"]
    return render(
        request,
        "scheduler/plan.html",
        {
            "visit": visit,
            "view": view,
            "plan": view.plan if view else None,
            "stations": by_id,
            "columns": columns,
            "pins": {tuple(p) for p in options.get("pins", [])},
            "options": options,
            "people_text": "\n".join(
                name + (f" (ohne {', '.join(a.upper() for a in avoids)})" if avoids else "")
                for name, avoids in options.get("people", [])
            ),
            "cells": _cells(view.plan) if view else {},
            "turns": _turns(view.plan) if view else {},
            "outages": outages,
            "stale": [r.translated(_) for r in view.stale_reasons] if view else [],
            "error": page.error,
            "fixes": page.fixes or [],
            "replan_at": _now_default(visit, timezone),
        },
        status_code=status_code,
    )


def _ordered(stations: Iterable[StationRow]) -> list[StationRow]:
    """VR, gaming, 3D printing — the order the lab introduces them."""
    order = list(Kind)
    return sorted(stations, key=lambda s: (order.index(s.kind), s.name))


def _cells(plan: Plan) -> dict[tuple[int, int], int]:
    """(slot index, station id) -> group index, for the grid."""
    return {(s.index, a.station_id): a.group for s in plan.slots for a in s.assignments}


def _turns(plan: Plan) -> dict[tuple[int, int], int]:
    """(slot index, station id) -> minutes per person, where a group takes turns."""
    return {
        (s.index, a.station_id): a.turn_minutes
        for s in plan.slots
        for a in s.assignments
        if a.turn_minutes is not None
    }


def _refused(request: Request, exc: DomainError) -> _Page:
    _ = gettext_for(request)
    return _Page(exc.translated(_), [fix.translated(_) for fix in exc.fixes])


def _stored_options(session: Session, visit_id: int) -> service.PlanOptions:
    return service.PlanOptions.from_dict(service.get_plan(session, visit_id).stored.options)


def _attempt(
    request: Request, session: Session, visit_id: int, timezone: str, change: Callable[[], None]
) -> Response:
    """Make the change and go back to the plan; or show the page with what went wrong."""
    try:
        change()
    except DomainError as exc:
        session.rollback()
        return _show(
            request,
            session,
            visit_id,
            timezone,
            _refused(request, exc),
            status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    session.commit()
    announce(request)
    return RedirectResponse(f"/visits/{visit_id}/plan", status_code=status.HTTP_303_SEE_OTHER)


@router.get("")
def plan_page(
    request: Request,
    visit_id: RecordId,
    session: SessionDep,
    settings: SettingsDep,
    _user: PageUser,
) -> Response:
    return _show(request, session, visit_id, settings.timezone, _Page())


@router.post("")
def make_plan(
    request: Request,
    visit_id: RecordId,
    session: SessionDep,
    settings: SettingsDep,
    _user: PageUser,
    form: FormDep,
) -> Response:
    def plan_it() -> None:
        pins: tuple[tuple[int, int, int], ...] = ()
        if forms.checkbox(form, "keep_pins"):
            pins = _stored_options(session, visit_id).pins
        service.make_plan(session, visit_id, _options(form, pins), planning_defaults(settings))

    return _attempt(request, session, visit_id, settings.timezone, plan_it)


@router.post("/pin")
def toggle_pin(
    request: Request,
    visit_id: RecordId,
    session: SessionDep,
    settings: SettingsDep,
    _user: PageUser,
    form: FormDep,
) -> Response:
    """Pin a group to its station in a slot (or release the pin), then plan again."""

    def toggle() -> None:
        pin = (
            forms.integer(form, "group_id"),
            forms.integer(form, "slot_index"),
            forms.integer(form, "station_id"),
        )
        options = _stored_options(session, visit_id)
        pins = set(options.pins) ^ {pin}
        changed = replace(options, pins=tuple(sorted(pins)))
        service.make_plan(session, visit_id, changed, planning_defaults(settings))

    return _attempt(request, session, visit_id, settings.timezone, toggle)


@router.post("/replan")
def replan(
    request: Request,
    visit_id: RecordId,
    session: SessionDep,
    settings: SettingsDep,
    _user: PageUser,
    form: FormDep,
) -> Response:
    change = forms.text(form, "change")

    def replan_it() -> None:
        target = forms.integer(form, "target")
        service.replan(
            session,
            visit_id,
            planning_defaults(settings),
            at=forms.clock(form, "at"),
            station_out=target if change == "station_out" else None,
            station_in=target if change == "station_in" else None,
            group_leaves=target if change == "group_leaves" else None,
            staff_leaves=target if change == "staff_leaves" else None,
        )

    return _attempt(request, session, visit_id, settings.timezone, replan_it)


@router.get("/print")
def print_page(
    request: Request, visit_id: RecordId, session: SessionDep, _user: PageUser
) -> Response:
    visit = get_visit(session, visit_id)
    view = service.get_plan(session, visit_id)
    ordered = _ordered(list_stations(session))
    stations = {s.id: s for s in ordered}
    used = [
        s
        for s in ordered
        if any(a.station_id == s.id for slot in view.plan.slots for a in slot.assignments)
    ]
    return render(
        request,
        "scheduler/print.html",
        {
            "visit": visit,
            "plan": view.plan,
            "stations": stations,
            "columns": used,
            "cells": _cells(view.plan),
            "turns": _turns(view.plan),
        },
    )
