"""Planning use cases: gather a visit's inputs, run the pure planner, keep the plan.

Functions take a session and plain values, and never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from librarylab.errors import InvalidInput, NotFound, Problem
from printers import plan_jobs
from scheduler import planning
from scheduler.documents import from_document, minutes, to_document
from scheduler.model import Busy, Person, Pin, Plan, PlanningImpossible, Request, Station
from scheduler.orm import StoredPlan
from stations.model import Status
from stations.orm import Station as StationRow
from visits.model import MAX_PARTICIPANTS, VisitStatus
from visits.orm import Visit
from visits.service import get_visit


@dataclass(frozen=True)
class Defaults:
    """The lab's planning defaults (from the settings)."""

    slot_minutes: int = 20
    changeover_minutes: int = 5
    time_limit_seconds: float = 2.0
    timezone: str = "Europe/Berlin"
    stations_per_staff: int = 1


@dataclass(frozen=True)
class PlanOptions:
    """What staff may choose per visit; None means the lab's default."""

    slot_minutes: int | None = None
    changeover_minutes: int | None = None
    group_count: int | None = None
    max_group_size: int | None = None
    pins: tuple[tuple[int, int, int], ...] = ()  # (group id, slot index, station id)
    accept_partial: bool = False
    people: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, kinds avoided)

    def as_dict(self) -> dict[str, Any]:
        return {
            "slot_minutes": self.slot_minutes,
            "changeover_minutes": self.changeover_minutes,
            "group_count": self.group_count,
            "max_group_size": self.max_group_size,
            "pins": [list(p) for p in self.pins],
            "accept_partial": self.accept_partial,
            "people": [[name, list(avoids)] for name, avoids in self.people],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanOptions:
        return cls(
            slot_minutes=data.get("slot_minutes"),
            changeover_minutes=data.get("changeover_minutes"),
            group_count=data.get("group_count"),
            max_group_size=data.get("max_group_size"),
            pins=tuple((int(g), int(t), int(s)) for g, t, s in data.get("pins", ())),
            accept_partial=bool(data.get("accept_partial", False)),
            people=tuple((n, tuple(a)) for n, a in data.get("people", ())),
        )


@dataclass
class PlanView:
    """A stored plan with what changed since it was made."""

    stored: StoredPlan
    plan: Plan
    stale_reasons: list[Problem] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        return self.stored.document


def _refused(impossible: PlanningImpossible) -> InvalidInput:
    error = InvalidInput.from_problem(impossible.reason, impossible.fixes)
    assert isinstance(error, InvalidInput)
    return error


def _minute(value: time) -> int:
    return value.hour * 60 + value.minute


def _lab(session: Session) -> list[StationRow]:
    return list(session.scalars(select(StationRow).order_by(StationRow.id)))


def _model(row: StationRow) -> Station:
    return Station(
        row.id, row.name, row.kind.value, row.capacity, row.max_group, bool(row.needs_staff)
    )


def _busy_elsewhere(session: Session, visit: Visit) -> list[Busy]:
    """Stations booked by the plans of other visits on the same day.

    Locks all visits of that day (PostgreSQL row locks, held until commit), so instances
    planning visits of the same day take turns and never book one station twice.
    """
    same_day = (
        session.scalars(
            select(Visit)
            .where(Visit.date == visit.date)
            .options(lazyload(Visit.round))
            .with_for_update(of=Visit)
        )
        .unique()
        .all()
    )
    busy: list[Busy] = []
    for other in same_day:
        if other.id == visit.id or other.status is VisitStatus.CANCELLED:
            continue
        stored = _stored(session, other.id)
        if stored is None:
            continue
        for slot in stored.document["slots"]:
            for a in slot["assignments"]:
                busy.append(Busy(a["station_id"], minutes(slot["start"]), minutes(slot["end"])))
    return busy


def _laid_out_like(request: Request, plan: Plan) -> Request:
    """The request with the slot length and changeover the plan was made with (the lab's
    defaults may have changed since): a re-plan must find the plan's own slots."""
    if not plan.slots:
        return request
    first = plan.slots[0]
    changeover = request.changeover_minutes
    if len(plan.slots) > 1:
        changeover = plan.slots[1].start - first.end
    return replace(request, slot_minutes=first.end - first.start, changeover_minutes=changeover)


def _stored(session: Session, visit_id: int) -> StoredPlan | None:
    return session.scalars(select(StoredPlan).where(StoredPlan.visit_id == visit_id)).one_or_none()


def _request(
    session: Session,
    visit: Visit,
    options: PlanOptions,
    defaults: Defaults,
    extra_stations: tuple[int, ...] = (),
) -> Request:
    if visit.hands_on_start is None or visit.hands_on_end is None:
        raise InvalidInput(
            "Set the start and end of the hands-on block of this visit first.", "hands_on_start"
        )
    lab = _lab(session)
    in_service = [r for r in lab if r.status is Status.AVAILABLE or r.id in extra_stations]
    people: int | tuple[Person, ...] = visit.participants
    if options.people:
        people = tuple(Person(name, frozenset(avoids)) for name, avoids in options.people)
    return Request(
        start=_minute(visit.hands_on_start),
        end=_minute(visit.hands_on_end),
        slot_minutes=options.slot_minutes or defaults.slot_minutes,
        changeover_minutes=(
            defaults.changeover_minutes
            if options.changeover_minutes is None
            else options.changeover_minutes
        ),
        kinds=tuple(sorted({r.kind.value for r in lab})),
        stations=tuple(_model(r) for r in in_service),
        participants=people,
        group_count=options.group_count,
        max_group_size=options.max_group_size,
        pins=tuple(Pin(g - 1, t, s) for g, t, s in options.pins),
        busy=tuple(_busy_elsewhere(session, visit)),
        accept_partial=options.accept_partial,
        time_limit_seconds=defaults.time_limit_seconds,
        staff_on_duty=visit.staff_on_duty,
        stations_per_staff=defaults.stations_per_staff,
    )


def _station_inputs(row: StationRow, outages: dict[str, str]) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "name": row.name,
        "kind": row.kind.value,
        "capacity": row.capacity,
        "status": Status.OUT_OF_SERVICE.value if str(row.id) in outages else row.status.value,
        "needs_staff": bool(row.needs_staff),
    }
    # Only when set: plans made before stations had max_group do not look out of date.
    if row.max_group is not None:
        shown["max_group"] = row.max_group
    return shown


def _inputs(
    session: Session, visit: Visit, outages: dict[str, str], staff_left: int = 0
) -> dict[str, Any]:
    """What the plan was made for, to notice later changes."""
    inputs: dict[str, Any] = {
        "visit": {
            "date": visit.date.isoformat(),
            "hands_on_start": visit.hands_on_start.strftime("%H:%M")
            if visit.hands_on_start
            else None,
            "hands_on_end": visit.hands_on_end.strftime("%H:%M") if visit.hands_on_end else None,
            "participants": visit.participants,
        },
        "stations": {str(r.id): _station_inputs(r, outages) for r in _lab(session)},
        "outages": outages,
    }
    # Only when set: plans made before visits had staff on duty do not look out of date.
    if visit.staff_on_duty is not None:
        inputs["visit"]["staff_on_duty"] = visit.staff_on_duty
    if staff_left:
        inputs["staff_left"] = staff_left
    return inputs


def _keep(
    session: Session,
    visit: Visit,
    plan: Plan,
    options: PlanOptions,
    defaults: Defaults,
    outages: dict[int, str] | None = None,
    staff_left: int = 0,
) -> StoredPlan:
    """Keep the plan, and queue or move its groups' demo prints in the same transaction."""
    outage_keys = {str(station): since for station, since in (outages or {}).items()}
    values = {
        "options": options.as_dict(),
        "document": to_document(plan, visit.id),
        "inputs": _inputs(session, visit, outage_keys, staff_left),
        "updated_at": datetime.now(UTC),
    }
    stored = _stored(session, visit.id)
    if stored is None:
        stored = StoredPlan(visit_id=visit.id, revision=1, **values)
        session.add(stored)
    else:
        for name, value in values.items():
            setattr(stored, name, value)
        stored.revision += 1
    session.flush()
    plan_jobs.sync_visit(
        session, visit.id, visit.date, stored.document, ZoneInfo(defaults.timezone)
    )
    return stored


MAX_PERSON_NAME_LENGTH = 120


def _check_people(people: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
    """A visit has at most MAX_PARTICIPANTS people: more names would only make the planner
    work for seconds on a plan no visit can have."""
    if len(people) > MAX_PARTICIPANTS:
        raise InvalidInput(
            "Name at most {limit} people ({count} given).",
            "people",
            limit=MAX_PARTICIPANTS,
            count=len(people),
        )
    for number, (name, _avoids) in enumerate(people, 1):
        if len(name) > MAX_PERSON_NAME_LENGTH:
            raise InvalidInput(
                "The name of person {number} is longer than {limit} characters.",
                "people",
                number=number,
                limit=MAX_PERSON_NAME_LENGTH,
            )


# The key in ``session.info`` of a callable ``(engine, seconds)`` told how long each plan
# took (the app's metrics); the planner itself stays pure and untimed.
PLAN_OBSERVER = "librarylab.plan_observer"


def _timed(session: Session, make: Callable[[], Plan]) -> Plan:
    started = perf_counter()
    plan = make()
    observer = session.info.get(PLAN_OBSERVER)
    if observer is not None:
        observer(plan.engine, perf_counter() - started)
    return plan


def make_plan(
    session: Session, visit_id: int, options: PlanOptions, defaults: Defaults
) -> PlanView:
    """Plan the visit's hands-on block from scratch and keep the plan."""
    _check_people(options.people)
    visit = get_visit(session, visit_id)
    previous = _stored(session, visit_id)
    if options.pins and options.group_count is None and previous is not None:
        # Pins were set on the groups of the stored plan: keep that many groups.
        options = replace(options, group_count=len(previous.document["groups"]))
    try:
        request = _request(session, visit, options, defaults)
        plan = _timed(session, lambda: planning.plan(request))
    except PlanningImpossible as impossible:
        raise _refused(impossible) from None
    stored = _keep(session, visit, plan, options, defaults)
    return PlanView(stored, plan)


def _existing(session: Session, visit_id: int) -> tuple[Visit, StoredPlan]:
    visit = get_visit(session, visit_id)
    stored = _stored(session, visit_id)
    if stored is None:
        raise NotFound(
            "Visit {id} has no plan yet: POST /api/visits/{id}/plan makes one.", id=visit_id
        )
    return visit, stored


def get_plan(session: Session, visit_id: int) -> PlanView:
    visit, stored = _existing(session, visit_id)
    return PlanView(stored, from_document(stored.document), stale_reasons(session, visit, stored))


def replan(
    session: Session,
    visit_id: int,
    defaults: Defaults,
    *,
    at: time,
    station_out: int | None = None,
    station_in: int | None = None,
    group_leaves: int | None = None,
    staff_leaves: int | None = None,
) -> PlanView:
    """Re-plan from ``at``: started slots stay, the rest works around the change.

    Staff who left stay gone for later re-plans of the same plan (a fresh plan has everyone)."""
    visit, stored = _existing(session, visit_id)
    previous = from_document(stored.document)
    options = PlanOptions.from_dict(stored.options)
    outages = {int(k): v for k, v in stored.inputs.get("outages", {}).items()}
    used = tuple(a.station_id for slot in previous.slots for a in slot.assignments)
    lab = {r.id: r for r in _lab(session)}
    for station_id in (station_out, station_in):
        if station_id is not None and station_id not in lab:
            raise NotFound(
                "There is no station with id {id}; GET /api/stations lists them.", id=station_id
            )
    back = None
    if station_in is not None:
        outages.pop(station_in, None)
        back = _model(lab[station_in])
    if station_out is not None:
        outages[station_out] = at.strftime("%H:%M")
    if group_leaves is not None and not 1 <= group_leaves <= len(previous.groups):
        raise InvalidInput("The plan has no group {id}.", "group_leaves", id=group_leaves)
    extra = tuple(s for s in set(used) | set(outages) | {station_in or 0} if s in lab)
    request = _request(session, visit, options, defaults, extra_stations=extra)
    # Stations out of order stay out: an earlier outage, or one marked in the stations page.
    out_of_order = [
        Busy(s, minutes(since), planning.END_OF_DAY)
        for s, since in outages.items()
        if s != station_out
    ] + [
        Busy(r.id, _minute(at), planning.END_OF_DAY)
        for r in lab.values()
        if r.status is Status.OUT_OF_SERVICE
        and r.id in extra
        and r.id != station_in
        and r.id not in outages
    ]
    request = replace(request, busy=request.busy + tuple(out_of_order))
    request = _laid_out_like(request, previous)
    staff_left = int(stored.inputs.get("staff_left", 0))
    if staff_leaves is not None:
        if request.staff_on_duty is None:
            raise InvalidInput(
                "This visit has no count of staff on duty: set it on the visit, then plan again.",
                "staff_leaves",
            )
        if staff_left + staff_leaves > request.staff_on_duty:
            raise InvalidInput(
                "Only {count} staff are on duty.",
                "staff_leaves",
                count=request.staff_on_duty - staff_left,
            )
        staff_left += staff_leaves
    if request.staff_on_duty is not None:
        request = replace(request, staff_on_duty=max(request.staff_on_duty - staff_left, 0))
    try:
        plan = _timed(
            session,
            lambda: planning.replan(
                request,
                previous,
                at=_minute(at),
                station_out=station_out,
                station_back=back,
                group_leaves=None if group_leaves is None else group_leaves - 1,
            ),
        )
    except PlanningImpossible as impossible:
        raise _refused(impossible) from None
    stored = _keep(session, visit, plan, options, defaults, outages, staff_left)
    return PlanView(stored, plan)


def stale_reasons(session: Session, visit: Visit, stored: StoredPlan) -> list[Problem]:
    """What changed in the lab or the visit since the plan was made."""
    reasons: list[Problem] = []
    now = _inputs(session, visit, stored.inputs.get("outages", {}))
    now["visit"].pop("staff_on_duty", None)
    before_visit = dict(stored.inputs.get("visit", {}))
    if before_visit.pop("staff_on_duty", None) != visit.staff_on_duty:
        reasons.append(Problem("visit", "The staff on duty changed."))
    if now["visit"] != before_visit:
        reasons.append(Problem("visit", "The visit's time or participants changed."))
    before: dict[str, dict[str, Any]] = stored.inputs.get("stations", {})
    current: dict[str, dict[str, Any]] = now["stations"]
    staff_counted = "staff_on_duty" in stored.inputs.get("visit", {})
    for key in sorted(set(before) | set(current), key=int):
        old, new = before.get(key), current.get(key)
        if old is not None and new is not None:
            new = dict(new)
            was, now_staffed = old.get("needs_staff"), new.pop("needs_staff")
            # Supervision shapes only plans made for a number of staff on duty (and plans
            # made before the flag was recorded cannot tell).
            if staff_counted and was is not None and was != now_staffed:
                station = {"station": new["name"]}
                reasons.append(
                    Problem("stations", "{station} needs staff now.", station)
                    if now_staffed
                    else Problem("stations", "{station} no longer needs staff.", station)
                )
            old = {k: v for k, v in old.items() if k != "needs_staff"}
        if old == new:
            continue
        name = (new or old or {}).get("name", key)
        if new is None:
            reasons.append(Problem("stations", "{station} was removed.", {"station": name}))
        elif old is None:
            reasons.append(Problem("stations", "{station} was added.", {"station": name}))
        elif new["status"] == Status.OUT_OF_SERVICE.value != old["status"]:
            reasons.append(
                Problem("stations", "{station} is out of service now.", {"station": name})
            )
        elif old["status"] != new["status"]:
            reasons.append(Problem("stations", "{station} is back in service.", {"station": name}))
        else:
            reasons.append(Problem("stations", "{station} was changed.", {"station": name}))
    return reasons
