"""The outbox in the caller's session: add a mail with the change that causes it, list it,
send it again, and the claim and settle steps the sender uses. Nothing here commits."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from email_validator import EmailNotValidError, validate_email
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from librarylab.errors import Conflict, InvalidInput, NotFound
from librarylab.i18n import Formatter, translations
from librarylab.settings import LANGUAGES, Language
from mail.model import LEASE, MAX_SUBJECT_LENGTH, Failure, MailState, after_failure, header_problem
from mail.orm import OutboxMail

# Set on a session that added a mail; the sender is woken when that session commits.
ENQUEUED = "mail.enqueued"
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
Attachment = tuple[str, str, bytes]  # filename, content type, content


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Rendered:
    """A mail's subject and bodies in one language."""

    subject: str
    text: str
    html: str


@cache
def _environment(language: Language) -> Environment:
    env = Environment(
        loader=PackageLoader("mail"),
        autoescape=select_autoescape(("html",)),  # the .txt bodies stay plain
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,  # a missing value is a bug, not an empty gap in a mail
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    return env


def render(kind: str, language: Language, **context: Any) -> Rendered:
    """The mail ``kind`` in ``language`` from ``mail/<kind>.subject.txt``, ``.txt`` and
    ``.html``; the templates translate their text with ``_()``."""
    if language not in LANGUAGES:
        raise InvalidInput("Unknown language {language}.", "language", language=language)
    env = _environment(language)
    subject = env.get_template(f"mail/{kind}.subject.txt").render(**context)
    return Rendered(
        subject=" ".join(subject.split()),
        text=env.get_template(f"mail/{kind}.txt").render(**context),
        html=env.get_template(f"mail/{kind}.html").render(**context),
    )


def _checked_recipient(to: str) -> str:
    if header_problem(to):
        raise InvalidInput(
            "The recipient {to!r} contains a line break or control character.", "to", to=to
        )
    try:
        return validate_email(to, check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvalidInput("{to!r} is not a mail address.", "to", to=to) from None


def _checked_header(value: str, field: str) -> str:
    why = header_problem(value)
    if why:
        raise InvalidInput(
            "The {name} of a mail must be one line without control characters ({why}).",
            field,
            name=field,
            why=why,
        )
    return value


def enqueue(
    session: Session,
    *,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    language: Language,
    attachments: Sequence[Attachment] = (),
    kind: str = "mail",
    now: datetime | None = None,
) -> OutboxMail:
    """Add a mail to the outbox in the caller's transaction: it exists exactly when the
    change that causes it is committed. Refuses header injection (line breaks)."""
    recipient = _checked_recipient(to)
    _checked_header(subject, "subject")
    if not subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
        raise InvalidInput("A subject of 1 to 300 characters.", "subject")
    if language not in LANGUAGES:
        raise InvalidInput("Unknown language {language}.", "language", language=language)
    stored = []
    for filename, content_type, content in attachments:
        _checked_header(filename, "attachment")
        _checked_header(content_type, "attachment")
        if content_type.count("/") != 1 or len(content) > MAX_ATTACHMENT_BYTES:
            raise InvalidInput("An attachment needs a type/subtype and at most 5 MB.", "attachment")
        data = base64.b64encode(content).decode("ascii")
        stored.append({"filename": filename, "content_type": content_type, "data": data})
    now = now or _now()
    mail = OutboxMail(
        message_id=f"<{uuid.uuid4().hex}@librarylab>",
        kind=kind,
        language=language,
        recipient=recipient,
        subject=subject,
        text_body=text,
        html_body=html,
        attachments=stored,
        state=MailState.QUEUED,
        attempts=0,
        next_attempt_at=now,
        last_error="",
        created_at=now,
    )
    session.add(mail)
    session.info[ENQUEUED] = True
    return mail


def queue(
    session: Session,
    kind: str,
    *,
    to: str,
    language: Language,
    attachments: Sequence[Attachment] = (),
    now: datetime | None = None,
    **context: Any,
) -> OutboxMail:
    """Render the mail ``kind`` in the reader's ``language`` and add it to the outbox like
    :func:`enqueue`; its templates also get ``lang`` and a ``fmt`` for dates and times."""
    rendered = render(kind, language, lang=language, fmt=Formatter(language), **context)
    return enqueue(
        session,
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        language=language,
        attachments=attachments,
        kind=kind,
        now=now,
    )


def attachments_of(mail: OutboxMail) -> list[Attachment]:
    return [
        (a["filename"], a["content_type"], base64.b64decode(a["data"])) for a in mail.attachments
    ]


def list_mails(
    session: Session, state: MailState | None = None, limit: int = 200
) -> list[OutboxMail]:
    """The newest mails first."""
    query = select(OutboxMail).order_by(OutboxMail.id.desc()).limit(limit)
    if state is not None:
        query = query.where(OutboxMail.state == state)
    return list(session.scalars(query))


def get_mail(session: Session, mail_id: int) -> OutboxMail:
    mail = session.get(OutboxMail, mail_id)
    if mail is None:
        raise NotFound("There is no mail with id {id}; GET /api/mail lists them.", id=mail_id)
    return mail


def resend(session: Session, mail_id: int, now: datetime | None = None) -> OutboxMail:
    """Queue a failed mail again, with a fresh set of attempts."""
    mail = get_mail(session, mail_id)
    if mail.state is not MailState.FAILED:
        raise Conflict(
            "Only a failed mail can be sent again; this one is {state}.", state=mail.state.value
        )
    mail.state = MailState.QUEUED
    mail.attempts = 0
    mail.next_attempt_at = now or _now()
    mail.last_error = ""
    session.info[ENQUEUED] = True
    return mail


def counts(session: Session) -> dict[MailState, int]:
    rows = session.execute(select(OutboxMail.state, func.count()).group_by(OutboxMail.state))
    found = {MailState(state): int(n) for state, n in rows}
    return {state: found.get(state, 0) for state in MailState}


def _due(now: datetime) -> Any:
    return or_(
        (OutboxMail.state == MailState.QUEUED) & (OutboxMail.next_attempt_at <= now),
        (OutboxMail.state == MailState.SENDING) & (OutboxMail.lease_until < now),
    )


def claim(session: Session, now: datetime, limit: int) -> list[tuple[int, int]]:
    """Take up to ``limit`` due mails for this sender: (id, attempt) pairs.

    On PostgreSQL the candidates are locked with SKIP LOCKED, so instances take different
    rows; on both backends each row is taken by a conditional UPDATE that only one
    transaction can win. The attempt number fences later writes: a sender whose lease ran
    out cannot settle a mail someone else has claimed since."""
    ids = session.scalars(
        select(OutboxMail.id)
        .where(_due(now))
        .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claimed = []
    for mail_id in ids:
        attempt = session.scalar(select(OutboxMail.attempts).where(OutboxMail.id == mail_id))
        result = session.execute(
            update(OutboxMail)
            .where(OutboxMail.id == mail_id, OutboxMail.attempts == attempt, _due(now))
            .values(
                state=MailState.SENDING, lease_until=now + LEASE, attempts=OutboxMail.attempts + 1
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append((mail_id, (attempt or 0) + 1))
    return claimed


def _settle(session: Session, mail_id: int, attempt: int, **values: Any) -> bool:
    result = session.execute(
        update(OutboxMail)
        .where(
            OutboxMail.id == mail_id,
            OutboxMail.attempts == attempt,
            OutboxMail.state == MailState.SENDING,
        )
        .values(lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def mark_sent(session: Session, mail_id: int, attempt: int, now: datetime) -> bool:
    return _settle(session, mail_id, attempt, state=MailState.SENT, sent_at=now, last_error="")


def mark_failed(
    session: Session, mail_id: int, attempt: int, failure: Failure, now: datetime
) -> MailState:
    """Queue the mail for a later attempt or fail it, with the reason (never its body)."""
    outcome = after_failure(attempt, failure, now)
    values: dict[str, Any] = {"state": outcome.state, "last_error": failure.text}
    if outcome.next_attempt_at is not None:
        values["next_attempt_at"] = outcome.next_attempt_at
    _settle(session, mail_id, attempt, **values)
    return outcome.state
