"""The visits as an iCalendar feed, for the staff's calendar programs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from visits.model import VisitStatus
from visits.orm import Visit

_ICAL_STATUS = {
    VisitStatus.FREE: "TENTATIVE",
    VisitStatus.REQUESTED: "TENTATIVE",
    VisitStatus.CONFIRMED: "CONFIRMED",
    VisitStatus.DONE: "CONFIRMED",
    VisitStatus.CANCELLED: "CANCELLED",
}


def visits_calendar(
    visits: Iterable[Visit], *, lab_name: str, timezone: str, host: str, now: datetime | None = None
) -> bytes:
    """One VEVENT per visit, in the lab's time zone; UIDs stay stable across edits."""
    zone = ZoneInfo(timezone)
    stamp = now or datetime.now(UTC)
    calendar = Calendar()
    calendar.add("prodid", "-//LibraryLab//Station manager//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", lab_name)
    calendar.add("x-wr-timezone", timezone)
    for visit in visits:
        event = Event()
        event.add("uid", f"visit-{visit.id}@{host}")
        event.add("dtstamp", stamp)
        event.add("dtstart", datetime.combine(visit.date, visit.start, tzinfo=zone))
        event.add("dtend", datetime.combine(visit.date, visit.end, tzinfo=zone))
        title = visit.library or "free date"
        event.add("summary", f"LibraryLab: {title}")
        details = [
            f"Town: {visit.town}" if visit.town else "",
            f"Topic: {visit.topic}" if visit.topic else "",
            f"Participants: {visit.participants}" if visit.participants else "",
            f"Round: {visit.round.name}" if visit.round else "",
            f"Hands-on: {visit.hands_on_start:%H:%M}–{visit.hands_on_end:%H:%M}"
            if visit.hands_on_start and visit.hands_on_end
            else "",
            f"Contact: {visit.contact_name} <{visit.contact_email}>" if visit.contact_name else "",
        ]
        event.add("description", "\n".join(line for line in details if line))
        event.add("location", lab_name)
        event.add("status", _ICAL_STATUS[visit.status])
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())
