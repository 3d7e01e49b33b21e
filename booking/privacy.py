"""Personal data of visit contacts: export everything stored about one address, erase it on
request, and erase it for good N months after a visit. Nothing here commits.

What counts as one address's data: visits and requests whose contact address it is (compared
without case), and mails sent to it or naming it in subject or body. Erasure keeps what the
programme's figures need (library, town, date, times, topic, participants, status, posts,
a mail's kind, state and times) and blanks the rest of those records, wishes and staff
notes included: both are free text that may name people, and no rule can tell.

Every export and erasure adds a :class:`PersonalDataAction` and an audit line; both carry a
keyed digest of the address (HMAC with the secret key), never the address itself.
"""

from __future__ import annotations

import calendar
import enum
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from booking.model import MAX_LENGTHS, RequestState
from booking.orm import PersonalDataAction, VisitRequest
from librarylab.errors import InvalidInput
from librarylab.schemas import HHMM, Timestamp
from librarylab.settings import Settings
from mail.model import MailState
from mail.orm import OutboxMail
from visits.orm import Visit

audit = logging.getLogger("librarylab.audit")

SCHEMA_VERSION = 1
SYSTEM = "system"  # the actor of the periodic erasure
MAX_ADDRESS_LENGTH = MAX_LENGTHS["contact_email"]
FEW_ADDRESSES = 10  # looked up with the database's help; more: one pass over the outbox


class Action(enum.StrEnum):
    """The kinds of :class:`PersonalDataAction` (stored as text)."""

    EXPORT = "export"
    ERASE = "erase"
    EXPIRE = "expire"


# --- rules without I/O ---------------------------------------------------------------------


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier; the month's last day where it is shorter."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def moment_months_before(moment: datetime, months: int) -> datetime:
    """The same time of day ``months`` earlier (see :func:`months_before`)."""
    shifted = months_before(moment.date(), months)
    return moment.replace(year=shifted.year, month=shifted.month, day=shifted.day)


def address_of(email: str) -> str:
    """The address to look for, normalised and in lower case; a clear 422 otherwise.

    Stored addresses are compared without case: ``Ada@Example.org`` and ``ada@example.org``
    reach the same mailbox in practice, and erasing both is the safe side."""
    text = email.strip()
    if text and len(text) <= MAX_ADDRESS_LENGTH and not any(c in text for c in "\r\n\t"):
        try:
            return validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            pass
    raise InvalidInput("Give one mail address, such as name@example.org.", "email")


def subject_digest(address: str, settings: Settings) -> str:
    """A keyed digest of ``address``: the log can be searched for a known address, but
    does not tell whose data it was."""
    key = settings.secret_key.get_secret_value().encode("utf-8")
    if not key:
        raise RuntimeError("the secret key is not set (Settings.with_secret_key)")
    return hmac.new(key, b"personal-data:" + address.encode("utf-8"), hashlib.sha256).hexdigest()


# An address as it stands in a text: ``ada@x.org`` is not part of ``lada@x.org.uk``.
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def _addresses_in(*texts: str) -> set[str]:
    """The addresses named in ``texts``, in lower case."""
    return {found.lower() for text in texts for found in _ADDRESS.findall(text)}


# --- what an export holds (the JSON the person receives) -----------------------------------


class _Data(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class PostData(_Data):
    kind: str
    url: str
    published: bool


class VisitData(_Data):
    id: int
    library: str
    town: str
    date: date
    start: HHMM
    end: HHMM
    participants: int
    topic: str
    status: str
    contact_name: str
    contact_email: str
    contact_language: str
    wishes: str
    notes: str = Field(description="The lab's notes about the visit.")
    posts: list[PostData]


class RequestData(_Data):
    id: int
    state: str
    library: str
    town: str
    contact_name: str
    contact_email: str
    participants: int
    topics: list[str]
    wishes: str
    channels: list[str]
    language: str
    consent_at: Timestamp = Field(description="When the contact agreed to the storage.")
    created_at: Timestamp
    confirmed_at: Timestamp | None
    decided_at: Timestamp | None
    decline_message: str
    visit_id: int | None


class AttachmentData(_Data):
    filename: str
    content_type: str
    data: str = Field(description="The content, base64-encoded.")


class MailData(_Data):
    id: int
    kind: str
    language: str
    recipient: str
    subject: str
    text_body: str
    html_body: str
    attachments: list[AttachmentData]
    state: str
    created_at: Timestamp
    sent_at: Timestamp | None


class PersonalData(_Data):
    """Everything stored about one mail address."""

    schema_version: int = Field(description="Changes when the shape of this document does.")
    email: str = Field(description="The address asked about, normalised.")
    exported_at: Timestamp
    visits: list[VisitData]
    requests: list[RequestData]
    mails: list[MailData] = Field(description="Mails to the address or naming it.")


def _visit_data(visit: Visit) -> VisitData:
    return VisitData(
        id=visit.id,
        library=visit.library,
        town=visit.town,
        date=visit.date,
        start=visit.start,
        end=visit.end,
        participants=visit.participants,
        topic=visit.topic,
        status=visit.status.value,
        contact_name=visit.contact_name,
        contact_email=visit.contact_email,
        contact_language=visit.contact_language,
        wishes=visit.wishes,
        notes=visit.notes,
        posts=[PostData(kind=p.kind.value, url=p.url, published=p.published) for p in visit.posts],
    )


def _request_data(found: VisitRequest) -> RequestData:
    return RequestData(
        id=found.id,
        state=found.state.value,
        library=found.library,
        town=found.town,
        contact_name=found.contact_name,
        contact_email=found.contact_email,
        participants=found.participants,
        topics=list(found.topics),
        wishes=found.wishes,
        channels=list(found.channels),
        language=found.language,
        consent_at=found.consent_at,
        created_at=found.created_at,
        confirmed_at=found.confirmed_at,
        decided_at=found.decided_at,
        decline_message=found.decline_message,
        visit_id=found.visit_id,
    )


def _mail_data(mail: OutboxMail) -> MailData:
    return MailData(
        id=mail.id,
        kind=mail.kind,
        language=mail.language,
        recipient=mail.recipient,
        subject=mail.subject,
        text_body=mail.text_body,
        html_body=mail.html_body,
        attachments=[AttachmentData(**a) for a in mail.attachments],
        state=mail.state.value,
        created_at=mail.created_at,
        sent_at=mail.sent_at,
    )


# --- finding one address's records ---------------------------------------------------------


def _same_address(column: Any, address: str) -> Any:
    return func.lower(func.trim(column)) == address


@dataclass(frozen=True)
class Found:
    """The records that hold one address."""

    visits: list[Visit]
    requests: list[VisitRequest]
    mails: list[OutboxMail]

    @property
    def records(self) -> int:
        return len(self.visits) + len(self.requests) + len(self.mails)


def _mails_naming(session: Session, addresses: Iterable[str]) -> list[OutboxMail]:
    """Mails to one of ``addresses`` or naming one in subject or body, oldest first.

    For a few addresses the database picks candidates by substring first; for many (the
    periodic erasure) one pass reads the outbox, since a query per address would read it
    again each time. Either way a mail counts only if it names a whole address."""
    wanted = set(addresses) - {""}
    if not wanted:
        return []
    texts = (OutboxMail.subject, OutboxMail.text_body, OutboxMail.html_body)
    query = select(OutboxMail.id, OutboxMail.recipient, *texts).where(OutboxMail.recipient != "")
    if len(wanted) <= FEW_ADDRESSES:
        conditions = [_same_address(OutboxMail.recipient, a) for a in wanted]
        for column in texts:
            conditions += [func.lower(column).contains(a, autoescape=True) for a in wanted]
        query = query.where(or_(*conditions))
    ids = [
        mail_id
        for mail_id, recipient, *parts in session.execute(query)
        if recipient.strip().lower() in wanted or wanted & _addresses_in(*parts)
    ]
    found: list[OutboxMail] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found += session.scalars(select(OutboxMail).where(OutboxMail.id.in_(chunk)))
    return sorted(found, key=lambda mail: mail.id)


def find(session: Session, address: str) -> Found:
    """The records holding ``address`` (as :func:`address_of` returns it), oldest first."""
    visits = session.scalars(
        select(Visit)
        .where(_same_address(Visit.contact_email, address))
        .order_by(Visit.date, Visit.id)
    ).unique()
    requests = session.scalars(
        select(VisitRequest)
        .where(_same_address(VisitRequest.contact_email, address))
        .order_by(VisitRequest.id)
    ).unique()
    return Found(list(visits), list(requests), _mails_naming(session, [address]))


def _log(
    session: Session, action: Action, actor: str, digest: str, records: int, now: datetime
) -> None:
    session.add(
        PersonalDataAction(
            at=now, action=action, actor=actor[:80], subject_digest=digest, records=records
        )
    )
    audit.info(
        "personal data %s by %s: %d record(s)%s",
        action,
        actor,
        records,
        f", address digest {digest[:16]}" if digest else "",
    )


# --- export and erasure on request ---------------------------------------------------------


def export(
    session: Session, email: str, *, actor: str, settings: Settings, now: datetime
) -> dict[str, Any]:
    """Everything stored about ``email`` as JSON-able data (:class:`PersonalData`); logged.

    An address nothing is stored about gives empty lists, not an error: the answer says no
    more than the staff asking could read on their own pages."""
    address = address_of(email)
    found = find(session, address)
    document = PersonalData(
        schema_version=SCHEMA_VERSION,
        email=address,
        exported_at=now,
        visits=[_visit_data(v) for v in found.visits],
        requests=[_request_data(r) for r in found.requests],
        mails=[_mail_data(m) for m in found.mails],
    )
    _log(session, Action.EXPORT, actor, subject_digest(address, settings), found.records, now)
    return document.model_dump(mode="json")


@dataclass(frozen=True)
class Erased:
    """How many records an erasure changed."""

    visits: int = 0
    requests: int = 0
    mails_deleted: int = 0
    mails_blanked: int = 0

    @property
    def records(self) -> int:
        return self.visits + self.requests + self.mails_deleted + self.mails_blanked

    def __add__(self, other: Erased) -> Erased:
        return Erased(
            self.visits + other.visits,
            self.requests + other.requests,
            self.mails_deleted + other.mails_deleted,
            self.mails_blanked + other.mails_blanked,
        )


def _erase_visit(visit: Visit, now: datetime) -> None:
    visit.contact_name = ""
    visit.contact_email = ""
    visit.wishes = ""
    visit.notes = ""
    visit.contact_erased_at = now
    visit.post_link_nonce = secrets.token_hex(16)  # the personal post link dies


def _erase_request(found: VisitRequest, now: datetime) -> None:
    found.contact_name = ""
    found.contact_email = ""
    found.wishes = ""
    found.decline_message = ""  # written to the contact, it may name them
    found.opt_in_digest = None
    found.erased_at = now


def _erase_mails(session: Session, mails: list[OutboxMail]) -> Erased:
    """Delete what has not gone out (it never will); blank what has, keeping kind, state
    and times for the figures."""
    unsent = [m for m in mails if m.state is not MailState.SENT]
    for mail in unsent:
        session.delete(mail)  # a visit's mail mark stays (its link is set to NULL)
    sent = [m for m in mails if m.state is MailState.SENT]
    for mail in sent:
        mail.recipient = ""
        mail.subject = ""
        mail.text_body = ""
        mail.html_body = ""
        mail.attachments = []
        mail.last_error = ""
    return Erased(mails_deleted=len(unsent), mails_blanked=len(sent))


def erase(session: Session, email: str, *, actor: str, settings: Settings, now: datetime) -> Erased:
    """Erase ``email``'s contact data everywhere; logged. Erasing again changes nothing."""
    address = address_of(email)
    found = find(session, address)
    for visit in found.visits:
        _erase_visit(visit, now)
    for request in found.requests:
        _erase_request(request, now)
    erased = Erased(visits=len(found.visits), requests=len(found.requests)) + _erase_mails(
        session, found.mails
    )
    session.flush()
    _log(session, Action.ERASE, actor, subject_digest(address, settings), erased.records, now)
    return erased


# --- the periodic erasure ------------------------------------------------------------------


def _expired_requests(day_cutoff: date, moment_cutoff: datetime) -> Any:
    """Requests whose matter ended ``personal_data_months`` ago: an accepted one with its
    visit, a declined one after its decision, a lapsed opt-in after it lapsed. A confirmed
    request still waits for staff and is kept."""
    decided = func.coalesce(VisitRequest.decided_at, VisitRequest.created_at)
    lapsed = func.coalesce(VisitRequest.expires_at, VisitRequest.created_at)
    old_visits = select(Visit.id).where(Visit.date <= day_cutoff)
    return and_(
        VisitRequest.erased_at.is_(None),
        or_(
            and_(
                VisitRequest.state == RequestState.ACCEPTED, VisitRequest.visit_id.in_(old_visits)
            ),
            and_(
                VisitRequest.state == RequestState.ACCEPTED,
                VisitRequest.visit_id.is_(None),
                decided <= moment_cutoff,
            ),
            and_(VisitRequest.state == RequestState.DECLINED, decided <= moment_cutoff),
            and_(
                VisitRequest.state.in_([RequestState.EXPIRED, RequestState.NEW]),
                lapsed <= moment_cutoff,
            ),
        ),
    )


def _kept_addresses(session: Session) -> set[str]:
    """The addresses of contacts still kept (their visit or request is recent)."""
    visits = select(func.lower(func.trim(Visit.contact_email))).where(Visit.contact_email != "")
    requests = select(func.lower(func.trim(VisitRequest.contact_email))).where(
        VisitRequest.contact_email != "", VisitRequest.erased_at.is_(None)
    )
    return set(session.scalars(visits)) | set(session.scalars(requests))


def erase_expired(session: Session, now: datetime, settings: Settings) -> int:
    """Erase the contacts of visits ``settings.personal_data_months`` after their day (in
    the lab's time zone), of requests that long after they ended, and mails to addresses no
    longer kept (or older than that to anyone no longer kept). Returns the records changed;
    running it again changes nothing. Called by the job runner; may run on two instances at
    once, which only repeats the same blanking."""
    months = settings.personal_data_months
    day_cutoff = months_before(now.astimezone(ZoneInfo(settings.timezone)).date(), months)
    moment_cutoff = moment_months_before(now, months)
    personal = or_(
        Visit.contact_name != "", Visit.contact_email != "", Visit.wishes != "", Visit.notes != ""
    )
    visits = list(
        session.scalars(
            select(Visit).where(
                Visit.date <= day_cutoff, Visit.contact_erased_at.is_(None), personal
            )
        ).unique()
    )
    requests = list(
        session.scalars(
            select(VisitRequest).where(_expired_requests(day_cutoff, moment_cutoff))
        ).unique()
    )
    gone = {v.contact_email.strip().lower() for v in visits}
    gone |= {r.contact_email.strip().lower() for r in requests}
    for visit in visits:
        _erase_visit(visit, now)
    for request in requests:
        _erase_request(request, now)
    session.flush()
    kept = _kept_addresses(session)
    mails = {m.id: m for m in _mails_naming(session, gone - kept)}
    # Only ids and recipients: old mails to kept contacts are read on every run.
    old = session.execute(
        select(OutboxMail.id, OutboxMail.recipient).where(
            OutboxMail.created_at <= moment_cutoff, OutboxMail.recipient != ""
        )
    )
    due = [
        mail_id for mail_id, to in old if to.strip().lower() not in kept and mail_id not in mails
    ]
    for start in range(0, len(due), 500):
        chunk = due[start : start + 500]
        mails.update(
            (m.id, m) for m in session.scalars(select(OutboxMail).where(OutboxMail.id.in_(chunk)))
        )
    erased = Erased(visits=len(visits), requests=len(requests)) + _erase_mails(
        session, list(mails.values())
    )
    session.flush()
    if erased.records:
        _log(session, Action.EXPIRE, SYSTEM, "", erased.records, now)
    return erased.records


def list_actions(session: Session, limit: int = 200) -> list[PersonalDataAction]:
    """The newest actions first."""
    return list(
        session.scalars(
            select(PersonalDataAction)
            .order_by(PersonalDataAction.at.desc(), PersonalDataAction.id.desc())
            .limit(limit)
        )
    )
