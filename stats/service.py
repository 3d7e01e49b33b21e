"""Read the rows the figures need, for a range of days; the session belongs to the caller."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from booking.model import RequestState
from booking.orm import VisitRequest
from librarylab.errors import InvalidInput
from printers.jobs import JobState
from printers.orm import PrintJob
from scheduler.documents import minutes
from scheduler.orm import StoredPlan
from stations.orm import Station
from stats.model import Figures, PlanRow, PlanSlot, StationInfo, VisitRow, figures
from visits.orm import Round, Visit, VisitPost


def today_in(timezone: str) -> date:
    """The lab's today: a visit is over once its day has passed where the lab is."""
    return datetime.now(ZoneInfo(timezone)).date()


def check_range(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and start > end:
        raise InvalidInput(
            "The first day ({start}) comes after the last day ({end}).",
            "from",
            start=start.isoformat(),
            end=end.isoformat(),
        )


def _in_range(column: Any, start: date | None, end: date | None) -> list[Any]:
    conditions = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column <= end)
    return conditions


def _visits(session: Session, start: date | None, end: date | None) -> list[VisitRow]:
    days = _in_range(Visit.date, start, end)
    posts: dict[int, list[bool]] = {}
    for visit_id, published in session.execute(
        select(VisitPost.visit_id, VisitPost.published)
        .join(Visit, VisitPost.visit_id == Visit.id)
        .where(*days)
        .order_by(VisitPost.id)
    ):
        posts.setdefault(visit_id, []).append(published)
    rows = session.execute(
        select(
            Visit.id,
            Visit.date,
            Round.name,
            Visit.library,
            Visit.town,
            Visit.topic,
            Visit.participants,
            Visit.status,
        )
        .outerjoin(Round, Visit.round_id == Round.id)
        .where(*days)
    )
    return [
        VisitRow(
            id=r[0],
            day=r[1],
            round=r[2] or "",
            library=r[3],
            town=r[4],
            topic=r[5],
            participants=r[6],
            status=r[7],
            posts=tuple(posts.get(r[0], ())),
        )
        for r in rows
    ]


def _plans(
    session: Session, start: date | None, end: date | None
) -> tuple[list[PlanRow], dict[int, StationInfo]]:
    """The plans' slots, and each station as it is now, or else as it was planned for."""
    days = _in_range(Visit.date, start, end)
    plans = []
    for visit_id, document in session.execute(
        select(StoredPlan.visit_id, StoredPlan.document)
        .join(Visit, StoredPlan.visit_id == Visit.id)
        .where(*days)
    ):
        slots = tuple(
            PlanSlot(
                minutes(s["start"]),
                minutes(s["end"]),
                tuple(a["station_id"] for a in s["assignments"]),
            )
            for s in document.get("slots", ())
        )
        plans.append(PlanRow(visit_id, slots))
    stations = {
        station_id: StationInfo(name, kind.value)
        for station_id, name, kind in session.execute(
            select(Station.id, Station.name, Station.kind)
        )
    }
    gone = {i for p in plans for s in p.slots for i in s.station_ids} - stations.keys()
    if gone:  # deleted since: only then read what the plans were made for (it is large)
        for (inputs,) in session.execute(
            select(StoredPlan.inputs).join(Visit, StoredPlan.visit_id == Visit.id).where(*days)
        ):
            for key, station in (inputs.get("stations") or {}).items():
                if int(key) in gone:
                    stations[int(key)] = StationInfo(
                        str(station.get("name", "")), str(station.get("kind", ""))
                    )
    return plans, stations


def _print_states(session: Session, start: date | None, end: date | None) -> dict[JobState, int]:
    """Jobs of a visit count on its day; jobs without one on the (UTC) day they were made."""
    made = []
    if start is not None:
        made.append(PrintJob.created_at >= datetime.combine(start, time(), UTC))
    if end is not None:
        made.append(PrintJob.created_at < datetime.combine(end + timedelta(days=1), time(), UTC))
    query = (
        select(PrintJob.state, func.count())
        .outerjoin(Visit, PrintJob.visit_id == Visit.id)
        .where(
            or_(
                and_(PrintJob.visit_id.is_not(None), *_in_range(Visit.date, start, end)),
                and_(PrintJob.visit_id.is_(None), *made),
            )
        )
        .group_by(PrintJob.state)
    )
    states: dict[JobState, int] = {}
    for state, count in session.execute(query):
        states[state] = count
    return states


def _request_states(session: Session, start: date | None, end: date | None) -> list[RequestState]:
    """Requests count on the (UTC) day they were made, like print jobs without a visit."""
    made = []
    if start is not None:
        made.append(VisitRequest.created_at >= datetime.combine(start, time(), UTC))
    if end is not None:
        made.append(
            VisitRequest.created_at < datetime.combine(end + timedelta(days=1), time(), UTC)
        )
    query = select(VisitRequest.state, func.count()).where(*made).group_by(VisitRequest.state)
    return [state for state, count in session.execute(query) for _ in range(count)]


def read_figures(session: Session, start: date | None, end: date | None, today: date) -> Figures:
    """The figures for the visits from ``start`` to ``end`` (both included; None: no limit)."""
    check_range(start, end)
    plans, stations = _plans(session, start, end)
    return figures(
        _visits(session, start, end),
        plans,
        stations,
        _print_states(session, start, end),
        today,
        _request_states(session, start, end),
    )
