"""The visits as iCalendar: the staff's feed, and the invitation mailed to a visit's contact.

Both build each visit's event with :func:`visit_event`, so a calendar that holds the feed
and the invitation sees one event (same UID, times, summary and status)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

from visits.model import VisitStatus
from visits.orm import Visit

_ICAL_STATUS = {
    VisitStatus.FREE: "TENTATIVE",
    VisitStatus.REQUESTED: "TENTATIVE",
    VisitStatus.CONFIRMED: "CONFIRMED",
    VisitStatus.DONE: "CONFIRMED",
    VisitStatus.CANCELLED: "CANCELLED",
}
INVITATION_TYPE = "text/calendar; method=REQUEST; charset=utf-8"


def uid_host(public_url: str) -> str:
    """The host part of every event UID: from the configured public address, not from the
    request, so the feed and the mail name one event whichever address was used."""
    return urlsplit(public_url).hostname or "librarylab"


def visit_uid(visit_id: int, host: str) -> str:
    return f"visit-{visit_id}@{host}"


def visit_event(visit: Visit, *, lab_name: str, timezone: str, host: str, stamp: datetime) -> Event:
    """The one event of a visit, in the lab's time zone; its UID stays stable across edits."""
    zone = ZoneInfo(timezone)
    event = Event()
    event.add("uid", visit_uid(visit.id, host))
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
    return event


def _calendar(lab_name: str, timezone: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", "-//LibraryLab//Station manager//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", lab_name)
    calendar.add("x-wr-timezone", timezone)
    return calendar


def visits_calendar(
    visits: Iterable[Visit], *, lab_name: str, timezone: str, host: str, now: datetime | None = None
) -> bytes:
    """One VEVENT per visit."""
    stamp = now or datetime.now(UTC)
    calendar = _calendar(lab_name, timezone)
    for visit in visits:
        calendar.add_component(
            visit_event(visit, lab_name=lab_name, timezone=timezone, host=host, stamp=stamp)
        )
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())


def invitation(
    visit: Visit,
    *,
    lab_name: str,
    timezone: str,
    host: str,
    organizer: str,
    now: datetime,
) -> bytes:
    """The visit's event as a mail invitation (METHOD:REQUEST): mail programs want an
    organizer and the invited contact as attendee before they offer to add it."""
    calendar = _calendar(lab_name, timezone)
    calendar.add("method", "REQUEST")
    event = visit_event(visit, lab_name=lab_name, timezone=timezone, host=host, stamp=now)
    lab = vCalAddress(f"mailto:{organizer}")
    lab.params["cn"] = vText(lab_name)
    event.add("organizer", lab)
    contact = vCalAddress(f"mailto:{visit.contact_email}")
    if visit.contact_name:
        contact.params["cn"] = vText(visit.contact_name)
    contact.params["role"] = vText("REQ-PARTICIPANT")
    contact.params["partstat"] = vText("ACCEPTED")
    contact.params["rsvp"] = vText("FALSE")
    event.add("attendee", contact)
    event.add("sequence", 0)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())
