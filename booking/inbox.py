"""The staff inbox of visit requests: list them, accept one onto a date, or decline it.

Functions take a session and never commit. Accepting and declining claim the request (and
the date) with conditional updates, so two staff members, or two instances, cannot both
decide the same request or give one date twice; each queues its mail in the same
transaction, so the mail exists exactly when the decision does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from booking.model import MAX_LENGTHS, Channel, MailKind, RequestState
from booking.orm import VisitRequest
from librarylab.audit.trail import record
from librarylab.errors import Conflict, InvalidInput, NotFound
from librarylab.i18n import Formatter
from librarylab.settings import LANGUAGES, Language, Settings
from mail import service as mail
from visits import service as visits
from visits.ical import INVITATION_TYPE, invitation, uid_host
from visits.model import PostKind, VisitStatus
from visits.orm import Visit, VisitPost

# What a date may be in when a request takes it: free, or held by the request itself.
_TAKEABLE = (VisitStatus.FREE, VisitStatus.REQUESTED)
# The fields a request fills in on its visit; declining clears them again.
_FILLED = {
    "library": "",
    "town": "",
    "contact_name": "",
    "contact_email": "",
    "participants": 0,
    "topic": "",
    "wishes": "",
    "contact_language": "de",
}
NEW_DATE_FIELDS = ("date", "start", "end", "hands_on_start", "hands_on_end", "round")
ACCEPT_FIELDS = ("visit_id", "topic", *NEW_DATE_FIELDS)
MAX_TOPIC = 300


def list_requests(session: Session, state: RequestState | None = None) -> Sequence[VisitRequest]:
    """Newest first: staff work from the top."""
    query = select(VisitRequest).order_by(VisitRequest.created_at.desc(), VisitRequest.id.desc())
    if state is not None:
        query = query.where(VisitRequest.state == state)
    return session.scalars(query).unique().all()


def waiting(session: Session) -> int:
    """Requests confirmed by mail that nobody has decided yet."""
    query = select(func.count()).where(VisitRequest.state == RequestState.CONFIRMED)
    return int(session.scalar(query.select_from(VisitRequest)) or 0)


def get_request(session: Session, request_id: int) -> VisitRequest:
    found = session.get(VisitRequest, request_id)
    if found is None:
        raise NotFound(
            "There is no visit request with id {id}; GET /api/visit-requests lists them.",
            id=request_id,
        )
    return found


def _claim(session: Session, request: VisitRequest, to: RequestState) -> None:
    """Move the request on from confirmed, or refuse if someone else did first."""
    moved = session.execute(
        update(VisitRequest)
        .where(VisitRequest.id == request.id, VisitRequest.state == RequestState.CONFIRMED)
        .values(state=to)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(request)
        if to is RequestState.ACCEPTED:
            raise Conflict(
                "This request is {state}; only a request confirmed by mail can be accepted.",
                state=request.state.value,
            )
        raise Conflict(
            "This request is {state}; only a request confirmed by mail can be declined.",
            state=request.state.value,
        )
    request.state = to


def _take_date(session: Session, visit_id: int, allowed: Sequence[VisitStatus]) -> Visit:
    """Mark the date confirmed, if it is still in one of the ``allowed`` statuses."""
    visit = visits.get_visit(session, visit_id)
    taken = session.execute(
        update(Visit)
        .where(Visit.id == visit_id, Visit.status.in_(allowed))
        .values(status=VisitStatus.CONFIRMED)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(visit)
        raise Conflict(
            "The date {date} is no longer free (it is {status}); pick another one.",
            "visit_id",
            date=visit.date.isoformat(),
            status=visit.status.value,
        )
    record(session, visit, "changed", {"status": (visit.status, VisitStatus.CONFIRMED)})
    return visit


def _release(session: Session, visit_id: int | None) -> None:
    """Give a date that a request held back to the other libraries, as a free date."""
    visit = session.get(Visit, visit_id) if visit_id is not None else None
    if visit is not None and visit.status is VisitStatus.REQUESTED:
        for name, empty in _FILLED.items():
            setattr(visit, name, empty)
        visit.status = VisitStatus.FREE
        visit.posts = [p for p in visit.posts if p.published]


def _topic(request: VisitRequest, chosen: str | None) -> str:
    topic = (chosen or "").strip() or "; ".join(t.strip() for t in request.topics if t.strip())
    if len(topic) > MAX_TOPIC:
        raise InvalidInput(
            "The topic wishes together are longer than {limit} characters: choose the topic.",
            "topic",
            limit=MAX_TOPIC,
        )
    return topic


def _filled(request: VisitRequest, topic: str) -> dict[str, Any]:
    return {
        "library": request.library,
        "town": request.town,
        "contact_name": request.contact_name,
        "contact_email": request.contact_email,
        "contact_language": request.language,
        "participants": request.participants,
        "topic": topic,
        "wishes": request.wishes,
        "status": VisitStatus.CONFIRMED,
    }


def _promised(posts: list[VisitPost], channels: Sequence[str]) -> list[VisitPost]:
    """One unpublished post per channel the library promised, beside the posts kept."""
    have = {p.kind for p in posts}
    wanted = [PostKind(c) for c in channels if c in {k.value for k in Channel}]
    return posts + [
        VisitPost(kind=k, url="", published=False) for k in dict.fromkeys(wanted) if k not in have
    ]


def accept(
    session: Session,
    request_id: int,
    values: Mapping[str, Any],
    actor: str,
    now: datetime,
    settings: Settings,
) -> VisitRequest:
    """Turn a confirmed request into a confirmed visit: on the date it named, on a free date
    staff pick (``visit_id``), or on a new date (``date``, ``start``, ``end``, …)."""
    unknown = set(values) - set(ACCEPT_FIELDS)
    if unknown:
        raise InvalidInput("Unknown fields: {fields}.", fields=", ".join(sorted(unknown)))
    request = get_request(session, request_id)
    picked = values.get("visit_id")
    new_date = values.get("date")
    if picked is not None and new_date is not None:
        raise InvalidInput("Pick a free date (visit_id) or give a new date, not both.", "visit_id")
    named = request.visit_id
    _claim(session, request, RequestState.ACCEPTED)
    topic = _topic(request, values.get("topic"))
    if new_date is not None:
        if values.get("start") is None or values.get("end") is None:
            raise InvalidInput("Give the start and end of the new date.", "start")
        fields = {k: values[k] for k in NEW_DATE_FIELDS if values.get(k) is not None}
        visit = visits.create_visit(session, fields | _filled(request, topic))
    else:
        target = picked if picked is not None else named
        if target is None:
            raise InvalidInput(
                "This request names no date: pick a free date or give a new one.", "visit_id"
            )
        # Its own date may be held for it (requested); any other date must be free.
        allowed = _TAKEABLE if target == named else (VisitStatus.FREE,)
        visit = _take_date(session, target, allowed)
        session.refresh(visit)
        visits.update_visit(session, visit.id, _filled(request, topic))
    visit.posts = _promised(list(visit.posts), request.channels)
    if named is not None and named != visit.id:
        _release(session, named)
    request.visit_id = visit.id
    request.visit = visit
    request.decided_at = now
    request.decided_by = actor
    session.flush()
    _mail_accepted(session, request, visit, now, settings)
    return request


def decline(
    session: Session,
    request_id: int,
    message: str,
    actor: str,
    now: datetime,
    settings: Settings,
) -> VisitRequest:
    """Decline a confirmed request with an optional message; a date it held is free again."""
    message = message.strip()
    if len(message) > MAX_LENGTHS["decline_message"]:
        raise InvalidInput(
            "This text is longer than {limit} characters.",
            "message",
            limit=MAX_LENGTHS["decline_message"],
        )
    request = get_request(session, request_id)
    _claim(session, request, RequestState.DECLINED)
    _release(session, request.visit_id)
    request.decided_at = now
    request.decided_by = actor
    request.decline_message = message
    session.flush()
    _mail_declined(session, request, now, settings)
    return request


def _language(request: VisitRequest) -> Language:
    return request.language if request.language in LANGUAGES else "de"


def _mail_accepted(
    session: Session, request: VisitRequest, visit: Visit, now: datetime, settings: Settings
) -> None:
    language = _language(request)
    fmt = Formatter(language)
    ics = invitation(
        visit,
        lab_name=settings.lab_name,
        timezone=settings.timezone,
        host=uid_host(settings.public_url),
        organizer=settings.mail_from or f"librarylab@{uid_host(settings.public_url)}",
        now=now,
    )
    mail.queue(
        session,
        MailKind.ACCEPTED,
        to=request.contact_email,
        language=language,
        attachments=[("librarylab-visit.ics", INVITATION_TYPE, ics)],
        now=now,
        lab_name=settings.lab_name,
        contact_name=request.contact_name,
        library=visit.library,
        date=fmt.weekday_date(visit.date),
        start=fmt.time(visit.start),
        end=fmt.time(visit.end),
        hands_on=(fmt.time(visit.hands_on_start), fmt.time(visit.hands_on_end))
        if visit.hands_on_start and visit.hands_on_end
        else None,
        participants=visit.participants,
        topic=visit.topic,
        channels=[p.kind.value for p in visit.posts if not p.published],
    )


def _mail_declined(
    session: Session, request: VisitRequest, now: datetime, settings: Settings
) -> None:
    language = _language(request)
    visit = request.visit
    mail.queue(
        session,
        MailKind.DECLINED,
        to=request.contact_email,
        language=language,
        now=now,
        lab_name=settings.lab_name,
        contact_name=request.contact_name,
        library=request.library,
        date=Formatter(language).weekday_date(visit.date) if visit is not None else "",
        message=request.decline_message,
    )
