"""Public visit requests: the dates on offer, a library's request, its double opt-in and the
expiry of requests nobody confirmed. Functions take a session and never commit.

A request counts only once its contact has followed the link in the opt-in mail; until then
it holds nothing. Confirming takes the named date with a conditional UPDATE (``status =
'free'``), so of two requests for one date, on any number of instances, exactly one gets
it; the other stays a request without a date (a wish) and its mail says so.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from booking.model import (
    MAX_LENGTHS,
    MAX_REQUEST_PARTICIPANTS,
    MAX_TOPICS,
    OPT_IN_VALID,
    Channel,
    MailKind,
    RequestState,
)
from booking.orm import VisitRequest
from librarylab.accounts.sessions import secret_digest
from librarylab.errors import Conflict, InvalidInput, Problem
from librarylab.settings import LANGUAGES, Language, Settings
from mail import service as mail
from visits import service as visits
from visits.model import VisitStatus
from visits.orm import Visit

log = logging.getLogger(__name__)

CONFIRM_PATH = "/request/confirm/"
TEXT_FIELDS = ("library", "town", "contact_name", "contact_email", "wishes")
# Control characters other than tab and line breaks (PostgreSQL refuses NUL outright).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class RequestInput:
    """A request as the form or the JSON twin sends it, checked."""

    library: str
    town: str
    contact_name: str
    contact_email: str
    participants: int
    topics: tuple[str, ...]
    wishes: str
    channels: tuple[Channel, ...]
    language: Language
    visit_id: int | None
    consent: bool


TAKEN = Problem(
    "visit_id",
    "This date is no longer free. Choose one of the free dates, or none "
    "(then the request reaches the lab as a wish).",
)


class DateTaken(Conflict):
    """The named date is not offered (any more); ``free_dates`` are the ones that are."""

    def __init__(self, free_dates: Sequence[Visit]) -> None:
        super().__init__(TAKEN.template, TAKEN.field)
        self.free_dates = list(free_dates)


def lab_today(now: datetime, settings: Settings) -> date:
    return now.astimezone(ZoneInfo(settings.timezone)).date()


def checked_request(values: Mapping[str, Any]) -> RequestInput:
    """The request in ``values``, or InvalidInput naming the first field to fix."""
    text = {name: str(values.get(name) or "").strip() for name in TEXT_FIELDS}
    for name in TEXT_FIELDS:
        if _CONTROL.search(text[name]):
            raise InvalidInput("Remove the control characters from this text.", name)
        if len(text[name]) > MAX_LENGTHS[name]:
            raise InvalidInput(
                "This text is longer than {limit} characters.", name, limit=MAX_LENGTHS[name]
            )
    if not text["library"]:
        raise InvalidInput("Name your library.", "library")
    if not text["town"]:
        raise InvalidInput("Name the town of your library.", "town")
    if not text["contact_name"]:
        raise InvalidInput("Name a contact person.", "contact_name")
    if not text["contact_email"]:
        raise InvalidInput("Give the contact's e-mail address.", "contact_email")
    try:
        email = validate_email(text["contact_email"], check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvalidInput(
            "This is not an e-mail address (name@example.org).", "contact_email"
        ) from None
    participants = values.get("participants")
    if not isinstance(participants, int) or isinstance(participants, bool):
        raise InvalidInput("Give the expected number of people as a whole number.", "participants")
    if not 1 <= participants <= MAX_REQUEST_PARTICIPANTS:
        raise InvalidInput(
            "Participants must be between 1 and {limit}.",
            "participants",
            limit=MAX_REQUEST_PARTICIPANTS,
        )
    topics = _topics(values.get("topics") or [])
    channels = _channels(values.get("channels") or [])
    language = values.get("language")
    if language not in LANGUAGES:
        raise InvalidInput("Choose German or English as the contact's language.", "language")
    visit_id = values.get("visit_id")
    if visit_id is not None and (not isinstance(visit_id, int) or isinstance(visit_id, bool)):
        raise InvalidInput("Choose one of the free dates, or none.", "visit_id")
    if values.get("consent") is not True:
        raise InvalidInput(
            "Agree to the handling of your data, or the lab cannot answer the request.",
            "consent",
        )
    return RequestInput(
        library=text["library"],
        town=text["town"],
        contact_name=text["contact_name"],
        contact_email=email,
        participants=participants,
        topics=topics,
        wishes=text["wishes"],
        channels=channels,
        language=language,
        visit_id=visit_id,
        consent=True,
    )


def _topics(raw: Iterable[Any]) -> tuple[str, ...]:
    topics: list[str] = []
    for item in raw:
        topic = str(item or "").strip()
        if _CONTROL.search(topic):
            raise InvalidInput("Remove the control characters from this text.", "topics")
        if len(topic) > MAX_LENGTHS["topic"]:
            raise InvalidInput(
                "A topic is longer than {limit} characters.", "topics", limit=MAX_LENGTHS["topic"]
            )
        if topic and topic not in topics:
            topics.append(topic)
    if not topics:
        raise InvalidInput("Name at least one topic you would like to discuss.", "topics")
    if len(topics) > MAX_TOPICS:
        raise InvalidInput("Choose at most {limit} topics.", "topics", limit=MAX_TOPICS)
    return tuple(topics)


def _channels(raw: Iterable[Any]) -> tuple[Channel, ...]:
    known = {c.value for c in Channel}
    channels: list[Channel] = []
    for item in raw:
        if item not in known:
            raise InvalidInput("Choose the channels from the list.", "channels")
        if Channel(item) not in channels:
            channels.append(Channel(item))
    return tuple(channels)


def offered_dates(session: Session, today: date) -> list[Visit]:
    """The dates a library can ask for: free, from tomorrow on."""
    return visits.free_dates(session, today + timedelta(days=1))


def public_dates(session: Session, today: date) -> dict[str, list[Visit]]:
    """The upcoming dates of the open rounds (those with a free date), by round name ("" for
    dates without a round): free ones to choose, requested and booked ones to see as taken."""
    offered = offered_dates(session, today)
    open_rounds = {v.round_id for v in offered}
    shown = (VisitStatus.FREE, VisitStatus.REQUESTED, VisitStatus.CONFIRMED)
    query = (
        select(Visit)
        .where(Visit.status.in_(shown), Visit.date > today)
        .order_by(Visit.date, Visit.start, Visit.id)
    )
    groups: dict[str, list[Visit]] = {}
    for visit in session.scalars(query).unique():
        if visit.round_id in open_rounds:
            groups.setdefault(visit.round.name if visit.round else "", []).append(visit)
    return groups


def submit(
    session: Session, request: RequestInput, *, now: datetime, settings: Settings
) -> VisitRequest:
    """Store ``request`` as new and queue its opt-in mail; DateTaken when it names a date
    that is not offered."""
    if request.visit_id is not None:
        offered = offered_dates(session, lab_today(now, settings))
        if request.visit_id not in {v.id for v in offered}:
            raise DateTaken(offered)
    secret = secrets.token_urlsafe(32)
    stored = VisitRequest(
        state=RequestState.NEW,
        visit_id=request.visit_id,
        library=request.library,
        town=request.town,
        contact_name=request.contact_name,
        contact_email=request.contact_email,
        participants=request.participants,
        topics=list(request.topics),
        wishes=request.wishes,
        channels=[c.value for c in request.channels],
        language=request.language,
        consent_at=now,
        created_at=now,
        opt_in_digest=secret_digest(secret),
        expires_at=now + OPT_IN_VALID,
    )
    session.add(stored)
    session.flush()
    link = f"{settings.public_url}{CONFIRM_PATH}{secret}"
    _send(session, stored, MailKind.OPT_IN, settings, now, link=link, expires_at=stored.expires_at)
    log.info("visit request %d submitted, waiting for its opt-in", stored.id)
    return stored


def pending(session: Session, secret: str, now: datetime) -> VisitRequest | None:
    """The unconfirmed request whose opt-in link carries ``secret``, while it is valid."""
    if not secret or len(secret) > 200:
        return None
    return session.scalars(
        select(VisitRequest).where(
            VisitRequest.opt_in_digest == secret_digest(secret),
            VisitRequest.state == RequestState.NEW,
            VisitRequest.expires_at > now,
        )
    ).one_or_none()


@dataclass(frozen=True)
class Confirmed:
    """A confirmed request, and whether it lost its date to another one meanwhile."""

    request: VisitRequest
    date_taken: bool


def confirm(
    session: Session, secret: str, *, now: datetime, settings: Settings
) -> Confirmed | None:
    """Count the request behind ``secret``: it takes its date if that is still free (else it
    becomes a wish), and its contact gets the "received" mail. None for an unknown, used or
    expired link."""
    request = pending(session, secret, now)
    if request is None:
        return None
    won = session.execute(
        update(VisitRequest)
        .where(VisitRequest.id == request.id, VisitRequest.state == RequestState.NEW)
        .values(state=RequestState.CONFIRMED, confirmed_at=now, opt_in_digest=None)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        return None  # the same link, confirmed by a parallel click
    date_taken = False
    if request.visit_id is not None:
        taken = session.execute(
            update(Visit)
            .where(
                Visit.id == request.visit_id,
                Visit.status == VisitStatus.FREE,
                Visit.date > lab_today(now, settings),
            )
            .values(status=VisitStatus.REQUESTED)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            date_taken = True
            session.execute(
                update(VisitRequest)
                .where(VisitRequest.id == request.id)
                .values(visit_id=None)
                .execution_options(synchronize_session=False)
            )
    session.refresh(request)
    _send(session, request, MailKind.RECEIVED, settings, now, date_taken=date_taken)
    log.info(
        "visit request %d confirmed%s",
        request.id,
        ", its date was taken meanwhile" if date_taken else "",
    )
    return Confirmed(request, date_taken)


def expire_unconfirmed(session: Session, now: datetime, settings: Settings) -> int:
    """Mark the new requests whose opt-in time has run out as expired and forget their link;
    how many. Idempotent: a periodic job may run it on several instances."""
    del settings  # the validity is fixed (OPT_IN_VALID); the signature is the job's contract
    result = session.execute(
        update(VisitRequest)
        .where(VisitRequest.state == RequestState.NEW, VisitRequest.expires_at <= now)
        .values(state=RequestState.EXPIRED, opt_in_digest=None)
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if count:
        log.info("%d unconfirmed visit requests expired", count)
    return count


def _send(
    session: Session,
    request: VisitRequest,
    kind: MailKind,
    settings: Settings,
    now: datetime,
    **context: Any,
) -> None:
    """One mail to the request's own contact, about this request alone."""
    language: Language = "en" if request.language == "en" else "de"
    visit = session.get(Visit, request.visit_id) if request.visit_id is not None else None
    mail.queue(
        session,
        kind.value,
        to=request.contact_email,
        language=language,
        now=now,
        lab_name=settings.lab_name,
        request=request,
        visit=visit,
        zone=ZoneInfo(settings.timezone),
        **context,
    )
