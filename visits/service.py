"""Visit use cases. Functions take a session and plain values, and never commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, time
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from librarylab.errors import InvalidInput, NotFound, reject_unknown_fields
from librarylab.settings import LANGUAGES
from visits.model import (
    MAX_NOTES_LENGTH,
    MAX_STAFF,
    MAX_STAFF_NAME_LENGTH,
    Post,
    PostKind,
    VisitStatus,
    visit_problems,
)
from visits.orm import Round, Visit, VisitPost

EDITABLE = (
    "library",
    "town",
    "date",
    "start",
    "end",
    "hands_on_start",
    "hands_on_end",
    "participants",
    "topic",
    "contact_name",
    "contact_email",
    "status",
    "round",
    "posts",
    "notes",
    "wishes",
    "contact_language",
    "staff_on_duty",
    "staff_names",
)
DEFAULTS: dict[str, Any] = {
    "library": "",
    "town": "",
    "start": time(10, 0),
    "end": time(14, 0),
    "hands_on_start": None,
    "hands_on_end": None,
    "participants": 0,
    "topic": "",
    "contact_name": "",
    "contact_email": "",
    "status": VisitStatus.REQUESTED,
    "round": None,
    "posts": [],
    "notes": "",
    "wishes": "",
    "contact_language": "de",
    "staff_on_duty": None,
    "staff_names": [],
}


def list_visits(
    session: Session,
    *,
    round_name: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Sequence[Visit]:
    query = select(Visit).order_by(Visit.date, Visit.start, Visit.id)
    if round_name is not None:
        query = query.join(Round).where(Round.name == round_name)
    if start is not None:
        query = query.where(Visit.date >= start)
    if end is not None:
        query = query.where(Visit.date <= end)
    return session.scalars(query).unique().all()


def free_dates(session: Session, first_day: date) -> list[Visit]:
    """The free dates from ``first_day`` on, earliest first."""
    query = (
        select(Visit)
        .where(Visit.status == VisitStatus.FREE, Visit.date >= first_day)
        .order_by(Visit.date, Visit.start, Visit.id)
    )
    return list(session.scalars(query).unique())


def list_rounds(session: Session) -> Sequence[Round]:
    """Rounds in the order of their first visit."""
    first = func.min(Visit.date)
    query = select(Round).outerjoin(Visit).group_by(Round.id).order_by(first, Round.name)
    return session.scalars(query).all()


def get_visit(session: Session, visit_id: int) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise NotFound("There is no visit with id {id}; GET /api/visits lists them.", id=visit_id)
    return visit


def visit_fields(visit: Visit) -> dict[str, Any]:
    """The editable fields of a stored visit, in the shape the service accepts."""
    fields = {name: getattr(visit, name) for name in EDITABLE if name not in ("round", "posts")}
    fields["round"] = visit.round.name if visit.round else None
    fields["posts"] = [Post(p.kind, p.url, p.published) for p in visit.posts]
    return fields


def create_visit(session: Session, values: Mapping[str, Any]) -> Visit:
    if "date" not in values:
        raise InvalidInput("Give the date of the visit (YYYY-MM-DD).", "date")
    fields = _checked(DEFAULTS | dict(values))
    visit = Visit()
    _apply(session, visit, fields)
    session.add(visit)
    session.flush()
    return visit


def update_visit(session: Session, visit_id: int, changes: Mapping[str, Any]) -> Visit:
    """Apply a partial change; a rejected change leaves the visit as it was."""
    visit = get_visit(session, visit_id)
    reject_unknown_fields(changes, EDITABLE)
    fields = _checked(visit_fields(visit) | dict(changes))
    _apply(session, visit, fields)
    session.flush()
    return visit


def delete_visit(session: Session, visit_id: int) -> None:
    session.delete(get_visit(session, visit_id))
    session.flush()


# Column sizes: longer text is refused before the database would.
MAX_LENGTHS = {
    "library": 200,
    "town": 120,
    "topic": 300,
    "contact_name": 200,
    "contact_email": 320,
    "round": 120,
    "notes": MAX_NOTES_LENGTH,
    "wishes": MAX_NOTES_LENGTH,
}
MAX_URL_LENGTH = 500


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    fields["status"] = VisitStatus(fields["status"])
    fields["posts"] = [
        Post(PostKind(p.kind), p.url.strip(), bool(p.published)) for p in fields["posts"]
    ]
    for name in ("library", "town", "topic", "contact_name", "contact_email", "notes", "wishes"):
        fields[name] = str(fields[name] or "").strip()
    round_name = str(fields["round"] or "").strip()
    fields["round"] = round_name or None
    for name, limit in MAX_LENGTHS.items():
        if len(fields[name] or "") > limit:
            raise InvalidInput("This text is longer than {limit} characters.", name, limit=limit)
    if any(len(post.url) > MAX_URL_LENGTH for post in fields["posts"]):
        raise InvalidInput(
            "This text is longer than {limit} characters.", "posts", limit=MAX_URL_LENGTH
        )
    if fields["contact_language"] not in LANGUAGES:
        raise InvalidInput(
            "Choose the contact's language: {languages}.",
            "contact_language",
            languages=", ".join(LANGUAGES),
        )
    _check_staff(fields)
    problems = visit_problems(
        status=fields["status"],
        library=fields["library"],
        start=fields["start"],
        end=fields["end"],
        hands_on_start=fields["hands_on_start"],
        hands_on_end=fields["hands_on_end"],
        participants=fields["participants"],
        posts=fields["posts"],
    )
    if problems:
        raise InvalidInput.from_problem(problems[0])
    if fields["contact_email"]:
        try:
            fields["contact_email"] = validate_email(
                fields["contact_email"], check_deliverability=False
            ).normalized
        except EmailNotValidError:
            raise InvalidInput(
                "'{email}' is not a valid e-mail address (e.g. name@stadtbibliothek.de).",
                "contact_email",
                email=fields["contact_email"],
            ) from None
    return fields


def _check_staff(fields: dict[str, Any]) -> None:
    """A count from 0 (nobody: stations that need staff stay unused) to ``MAX_STAFF``, or
    None for not limited; names trimmed, empty ones dropped."""
    count = fields["staff_on_duty"]
    if count is not None and (
        isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_STAFF
    ):
        raise InvalidInput(
            "Staff on duty: a whole number from 0 to {max}, or empty for not limited.",
            "staff_on_duty",
            max=MAX_STAFF,
        )
    names = [str(name).strip() for name in fields["staff_names"] or ()]
    names = [name for name in names if name]
    if len(names) > MAX_STAFF or any(len(name) > MAX_STAFF_NAME_LENGTH for name in names):
        raise InvalidInput(
            "Name at most {max} staff members, each in at most {limit} characters.",
            "staff_names",
            max=MAX_STAFF,
            limit=MAX_STAFF_NAME_LENGTH,
        )
    fields["staff_names"] = names


def _apply(session: Session, visit: Visit, fields: Mapping[str, Any]) -> None:
    for name in EDITABLE:
        if name not in ("round", "posts"):
            setattr(visit, name, fields[name])
    visit.round = _round_named(session, fields["round"]) if fields["round"] else None
    visit.posts = [
        VisitPost(kind=p.kind, url=p.url, published=p.published) for p in fields["posts"]
    ]


def _round_named(session: Session, name: str) -> Round:
    found = session.scalars(select(Round).where(Round.name == name)).one_or_none()
    if found is None:
        found = Round(name=name)
        session.add(found)
    return found
