"""Plans to and from the JSON document the API shows and the database keeps."""

from __future__ import annotations

from typing import Any

from scheduler.bounds import clock
from scheduler.model import Assignment, Group, Missing, Plan, Slot


def minutes(text: str) -> int:
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


def to_document(plan: Plan, visit_id: int) -> dict[str, Any]:
    """The public plan shape; group ids are 1-based, slot indexes 0-based."""
    document: dict[str, Any] = {
        "visit_id": visit_id,
        "groups": [
            {
                "id": g.index + 1,
                "name": g.name,
                "size": g.size,
                "members": list(g.members),
                "avoids": sorted(g.avoids),
            }
            for g in plan.groups
        ],
        "slots": [
            {
                "index": s.index,
                "start": clock(s.start),
                "end": clock(s.end),
                "assignments": [_assignment(a) for a in s.assignments],
            }
            for s in plan.slots
        ],
        "lower_bound_slots": plan.lower_bound_slots,
        "optimal": plan.optimal,
        "missing": [{"group_id": m.group + 1, "kind": m.kind} for m in plan.missing],
        "engine": plan.engine,
    }
    if plan.staff_on_duty is not None:
        # Only for plans made with a staff limit: other documents stay exactly as they were.
        document["staff_on_duty"] = plan.staff_on_duty
        document["stations_per_staff"] = plan.stations_per_staff
        for shown, slot in zip(document["slots"], plan.slots, strict=True):
            shown["staffed_stations"] = slot.staffed
            shown["staff_capacity"] = slot.staff_capacity
        if plan.supervised_visits:
            document["supervised_visits"] = plan.supervised_visits
    return document


def _assignment(a: Assignment) -> dict[str, Any]:
    """``turn_minutes`` only where the group takes turns: other cells stay as they were."""
    shown: dict[str, Any] = {"group_id": a.group + 1, "station_id": a.station_id}
    if a.turn_minutes is not None:
        shown["turn_minutes"] = a.turn_minutes
    return shown


def from_document(document: dict[str, Any]) -> Plan:
    return Plan(
        groups=tuple(
            Group(
                g["id"] - 1,
                g["name"],
                g["size"],
                tuple(g["members"]),
                frozenset(g.get("avoids", ())),
            )
            for g in document["groups"]
        ),
        slots=tuple(
            Slot(
                s["index"],
                minutes(s["start"]),
                minutes(s["end"]),
                tuple(
                    Assignment(a["group_id"] - 1, a["station_id"], a.get("turn_minutes"))
                    for a in s["assignments"]
                ),
                s.get("staffed_stations", 0),
                s.get("staff_capacity"),
            )
            for s in document["slots"]
        ),
        lower_bound_slots=document["lower_bound_slots"],
        optimal=document["optimal"],
        missing=tuple(Missing(m["group_id"] - 1, m["kind"]) for m in document["missing"]),
        engine=document.get("engine", "greedy"),
        staff_on_duty=document.get("staff_on_duty"),
        stations_per_staff=document.get("stations_per_staff", 1),
        supervised_visits=document.get("supervised_visits", 0),
    )
