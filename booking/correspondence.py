"""The mails around a booked visit: reminder, changed, cancelled, follow-up and its reminder,
and the personal link where a library enters its #librarylab post.

Every mail is added to the outbox in the caller's transaction, together with a
:class:`~booking.orm.VisitMail` mark. Scheduled mails insert the mark first: its unique key
(visit, kind, occasion) lets only one of several instances on one database queue a mail.
Nothing here commits.

Catch-up after the service was off (the windows are counted in the lab's local days):

- reminder: from ``reminder_days_before`` days before the visit up to the day before it; a
  visit that has begun gets none. A visit booked or moved into that window gets its reminder
  at the next run. The occasion is the visit's date, so a moved visit is reminded again.
- follow-up: from the day after the visit until :data:`FOLLOW_UP_CATCH_UP` days after it;
  older visits get none (nor do old visits when this feature is first switched on).
- follow-up reminder: :data:`~booking.model.FOLLOW_UP_REMINDER_AFTER` after the follow-up,
  for another :data:`FOLLOW_UP_CATCH_UP`; only while a promised post is still outstanding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from booking.model import FOLLOW_UP_REMINDER_AFTER, MailKind
from booking.orm import VisitMail
from librarylab.errors import InvalidInput, NotFound
from librarylab.settings import LANGUAGES, Language, Settings
from mail import service as mail
from scheduler import service as plans
from visits.model import VisitStatus
from visits.orm import Visit, VisitPost
from visits.service import MAX_URL_LENGTH

log = logging.getLogger(__name__)

FOLLOW_UP_CATCH_UP = timedelta(days=7)
# A change of these fields changes the library's day: its contact is told.
SCHEDULE_FIELDS = ("date", "start", "end", "hands_on_start", "hands_on_end")
POSTED_STATUSES = (VisitStatus.CONFIRMED, VisitStatus.DONE)  # visits that promised a post
_TOKEN = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class Rotation:
    """A stored rotation plan as the library sees it: group count and slot times only."""

    groups: int
    slots: tuple[tuple[time, time], ...]


@dataclass(frozen=True)
class VisitLetter:
    """What a mail may say about its own visit, and nothing about anyone else."""

    library: str
    contact_name: str
    date: date
    start: time
    end: time
    hands_on_start: time | None
    hands_on_end: time | None
    topic: str
    channels: tuple[str, ...]  # the outstanding promised posts' channels

    @classmethod
    def of(cls, visit: Visit) -> VisitLetter:
        return cls(
            library=visit.library,
            contact_name=visit.contact_name,
            date=visit.date,
            start=visit.start,
            end=visit.end,
            hands_on_start=visit.hands_on_start,
            hands_on_end=visit.hands_on_end,
            topic=visit.topic,
            channels=tuple(str(p.kind) for p in visit.posts if not p.published),
        )


def _language(visit: Visit) -> Language:
    for language in LANGUAGES:
        if visit.contact_language == language:
            return language
    return "de"


def _has_contact(visit: Visit) -> bool:
    return bool(visit.contact_email) and visit.contact_erased_at is None


def _outstanding() -> Any:
    return exists().where(VisitPost.visit_id == Visit.id, VisitPost.published.is_(False))


def _reachable() -> Any:
    return (Visit.contact_email != "") & Visit.contact_erased_at.is_(None)


def _send(
    session: Session,
    visit: Visit,
    kind: MailKind,
    settings: Settings,
    now: datetime,
    **context: Any,
) -> int:
    """Render the mail ``kind`` for ``visit`` in its contact's language and queue it; the
    outbox id."""
    language = _language(visit)
    queued = mail.queue(
        session,
        kind.value,
        to=visit.contact_email,
        language=language,  # due at once: ``now`` may be a test's or a catch-up's time
        lab_name=settings.lab_name,
        visit=VisitLetter.of(visit),
        **context,
    )
    session.flush()
    return queued.id


def _claim(
    session: Session, visit: Visit, kind: MailKind, occasion: str, now: datetime
) -> VisitMail | None:
    """Insert the mark of ``kind`` for ``occasion`` unless it exists: the mark when this
    transaction won it and so queues the mail.

    On PostgreSQL a rival's uncommitted mark makes the insert wait; once the rival commits
    the insert fails, and only its savepoint is rolled back. SQLite serves one instance, and
    pysqlite would commit at the release of an outermost savepoint, so there the check
    before the insert suffices."""
    taken = select(VisitMail.id).where(
        VisitMail.visit_id == visit.id, VisitMail.kind == kind.value, VisitMail.occasion == occasion
    )
    if session.scalar(taken) is not None:
        return None
    mark = VisitMail(visit_id=visit.id, kind=kind.value, occasion=occasion, created_at=now)
    if session.get_bind().dialect.name != "postgresql":
        session.add(mark)
        session.flush()
        return mark
    try:
        with session.begin_nested():
            session.add(mark)
    except IntegrityError:
        return None
    return mark


def _queue_once(
    session: Session,
    visit: Visit,
    kind: MailKind,
    occasion: str,
    settings: Settings,
    now: datetime,
    **context: Any,
) -> bool:
    mark = _claim(session, visit, kind, occasion, now)
    if mark is None:
        return False
    if kind in (MailKind.FOLLOW_UP, MailKind.FOLLOW_UP_REMINDER):
        if visit.post_link_nonce is None:
            visit.post_link_nonce = secrets.token_hex(16)
        context["link"] = post_link(visit, settings)
    mark.mail_id = _send(session, visit, kind, settings, now, **context)
    return True


def rotation(session: Session, visit: Visit) -> Rotation | None:
    """The visit's stored plan, unless the visit's time changed since it was made."""
    try:
        view = plans.get_plan(session, visit.id)
    except NotFound:
        return None
    if any(reason.field == "visit" for reason in view.stale_reasons):
        return None
    slots = tuple(
        (time(s.start // 60, s.start % 60), time(s.end // 60, s.end % 60)) for s in view.plan.slots
    )
    return Rotation(groups=len(view.plan.groups), slots=slots)


def queue_due_mails(session: Session, now: datetime, settings: Settings) -> int:
    """Queue the reminders, follow-ups and follow-up reminders that are due at ``now``; how
    many were queued (by this call: a rival instance may have queued the others)."""
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    queued = 0
    reminders = select(Visit).where(
        Visit.status == VisitStatus.CONFIRMED,
        _reachable(),
        Visit.date > today,
        Visit.date <= today + timedelta(days=settings.reminder_days_before),
    )
    for visit in session.scalars(reminders.order_by(Visit.id)).unique():
        occasion = visit.date.isoformat()
        plan = rotation(session, visit)
        queued += _queue_once(
            session, visit, MailKind.REMINDER, occasion, settings, now, rotation=plan
        )
    follow_ups = select(Visit).where(
        Visit.status.in_(POSTED_STATUSES),
        _reachable(),
        _outstanding(),
        Visit.date < today,
        Visit.date >= today - FOLLOW_UP_CATCH_UP,
    )
    for visit in session.scalars(follow_ups.order_by(Visit.id)).unique():
        queued += _queue_once(
            session, visit, MailKind.FOLLOW_UP, visit.date.isoformat(), settings, now
        )
    second = select(Visit, VisitMail.occasion).join(VisitMail, VisitMail.visit_id == Visit.id)
    second = second.where(
        VisitMail.kind == MailKind.FOLLOW_UP.value,
        VisitMail.created_at <= now - FOLLOW_UP_REMINDER_AFTER,
        VisitMail.created_at > now - FOLLOW_UP_REMINDER_AFTER - FOLLOW_UP_CATCH_UP,
        Visit.status.in_(POSTED_STATUSES),
        _reachable(),
        _outstanding(),
    )
    for visit, occasion in session.execute(second.order_by(Visit.id)).unique():
        queued += _queue_once(session, visit, MailKind.FOLLOW_UP_REMINDER, occasion, settings, now)
    if queued:
        log.info("queued %d visit mails", queued)
    return queued


def notify_visit_change(
    session: Session, before: dict[str, Any], visit: Visit, settings: Settings
) -> None:
    """Tell a confirmed visit's contact that its day changed, or that it was cancelled.

    ``before`` is :func:`visits.service.visit_fields` of the visit before the update. Only a
    visit that was confirmed counts: a request that staff turn down is answered by the
    inbox's own mail."""
    if not _has_contact(visit) or before.get("status") != VisitStatus.CONFIRMED:
        return
    now = datetime.now(UTC)
    if visit.status is VisitStatus.CANCELLED:
        kind = MailKind.CANCELLED
    elif visit.status is VisitStatus.CONFIRMED and any(
        before.get(name) != getattr(visit, name) for name in SCHEDULE_FIELDS
    ):
        kind = MailKind.CHANGED
    else:
        return
    was = {name: before.get(name) for name in SCHEDULE_FIELDS}
    mail_id = _send(session, visit, kind, settings, now, before=was)
    session.add(
        VisitMail(
            visit_id=visit.id,
            kind=kind.value,
            occasion=now.isoformat(),  # each change is told once
            mail_id=mail_id,
            created_at=now,
        )
    )


# The personal post link ------------------------------------------------------------------


def _mac(visit_id: int, nonce: str, settings: Settings) -> str:
    key = settings.secret_key.get_secret_value().encode("utf-8")
    message = f"librarylab post link:{visit_id}:{nonce}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def post_token(visit: Visit, settings: Settings) -> str:
    """The secret part of the visit's post link; derived, never stored."""
    if visit.post_link_nonce is None:
        raise ValueError("the visit has no post link yet")
    return f"{visit.id}.{_mac(visit.id, visit.post_link_nonce, settings)}"


def post_link(visit: Visit, settings: Settings) -> str:
    return f"{settings.public_url}/posts/{post_token(visit, settings)}"


def renew_post_link(visit: Visit) -> None:
    """Invalidate the visit's post link (after an erasure, or when a mail went astray); the
    next follow-up carries a new one."""
    visit.post_link_nonce = secrets.token_hex(16)


def visit_for_token(session: Session, token: str, settings: Settings) -> Visit | None:
    """The visit whose post link ``token`` is, or None for any forged, altered or
    invalidated token (compared in constant time)."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    visit = session.get(Visit, int(match.group(1)))
    if visit is None or visit.post_link_nonce is None or visit.status not in POSTED_STATUSES:
        return None
    expected = _mac(visit.id, visit.post_link_nonce, settings)
    if not hmac.compare_digest(expected.encode("ascii"), match.group(2).encode("ascii")):
        return None
    return visit


def check_post_url(url: str, field: str = "posts") -> None:
    """Refuse what cannot be a post's address: other schemes (javascript:, data:), text
    longer than the column, spaces and control characters."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(
            "A post's address has at most {limit} characters.", field, limit=MAX_URL_LENGTH
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            "Give the post's address as your browser shows it, starting with https://.", field
        )
    if any(c.isspace() or unicodedata.category(c).startswith("C") for c in url):
        raise InvalidInput("A post's address has no spaces or control characters.", field)


def store_posts(session: Session, visit: Visit, urls: dict[int, str]) -> int:
    """Keep the addresses the library entered (post id → URL; empty ones are left out) and
    mark those posts published; how many were stored. All or nothing: one bad address
    refuses them all."""
    posts = {post.id: post for post in visit.posts}
    given = {post_id: url.strip() for post_id, url in urls.items() if url.strip()}
    if not given:
        raise InvalidInput("Enter the address of at least one post.", "posts")
    for post_id, url in given.items():
        if post_id not in posts:
            raise InvalidInput("This post is no longer asked for; reload the page.", "posts")
        check_post_url(url, f"post_{post_id}")
    for post_id, url in given.items():
        scheme, rest = url.split(":", 1)
        posts[post_id].url = scheme.lower() + ":" + rest
        posts[post_id].published = True
    session.flush()
    return len(given)
