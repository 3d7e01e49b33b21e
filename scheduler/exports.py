"""A stored plan as CSV (for spreadsheets) and iCalendar (one event per group and slot)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy.orm import Session

from scheduler.documents import minutes
from scheduler.service import get_plan
from stations.orm import Station
from visits.service import get_visit

# A spreadsheet runs a cell that starts with one of these as a formula; OWASP's rule for
# CSV injection is to start such a cell with a single quote, which shows it as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = [
    "slot",
    "start",
    "end",
    "group",
    "size",
    "members",
    "station_id",
    "station",
    "kind",
    "turn_minutes",  # minutes per person where the group takes turns; empty otherwise
]


def _rows(session: Session, visit_id: int) -> list[dict[str, object]]:
    document = get_plan(session, visit_id).document
    groups = {g["id"]: g for g in document["groups"]}
    rows: list[dict[str, object]] = []
    for slot in document["slots"]:
        for a in slot["assignments"]:
            station = session.get(Station, a["station_id"])
            group = groups[a["group_id"]]
            rows.append(
                {
                    "slot": slot["index"] + 1,
                    "start": slot["start"],
                    "end": slot["end"],
                    "group": group["name"],
                    "size": group["size"],
                    "members": ", ".join(group["members"]),
                    "station_id": a["station_id"],
                    "station": station.name if station else f"#{a['station_id']}",
                    "kind": station.kind.value if station else "",
                    "turn_minutes": a.get("turn_minutes", ""),
                }
            )
    return rows


def as_text(value: object) -> object:
    """A cell that a spreadsheet would run as a formula, shown as text instead."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def plan_csv(session: Session, visit_id: int) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in _rows(session, visit_id):
        writer.writerow({key: as_text(value) for key, value in row.items()})
    return buffer.getvalue()


def plan_calendar(session: Session, visit_id: int, *, timezone: str, lab_name: str) -> bytes:
    visit = get_visit(session, visit_id)
    zone = ZoneInfo(timezone)
    calendar = Calendar()
    calendar.add("prodid", "-//LibraryLab//Rotation plan//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"{lab_name}: {visit.library or visit.date.isoformat()}")
    stamp = datetime.now(UTC)
    for row in _rows(session, visit_id):
        event = Event()
        event.add("uid", f"plan-{visit_id}-slot{row['slot']}-group{row['group']}@librarylab")
        event.add("dtstamp", stamp)
        for key, field in (("dtstart", "start"), ("dtend", "end")):
            at = minutes(str(row[field]))
            event.add(
                key,
                datetime(
                    visit.date.year,
                    visit.date.month,
                    visit.date.day,
                    at // 60,
                    at % 60,
                    tzinfo=zone,
                ),
            )
        event.add("summary", f"{row['group']}: {row['station']}")
        event.add("location", f"{lab_name}, {row['station']}")
        description = f"Group {row['group']} ({row['size']}) {row['members']}".strip()
        if row["turn_minutes"] != "":
            description += f"\n{row['size']} people · ~{row['turn_minutes']} min each"
        event.add("description", description)
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())
