"""Which tables the audit trail follows, and how each is shown.

A class not listed here is not recorded: login sessions and the login throttle (bookkeeping
of logins, not changes), mail, visit requests (the booking inbox keeps their state), the
print job's own history rows (the job's record says the same).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from librarylab.accounts.orm import ApiToken, DisplayToken, Invitation, User
from librarylab.audit import trail
from librarylab.audit.trail import Audited, Values
from printers.orm import Printer, PrintFile, PrintJob
from scheduler.orm import StoredPlan
from stations.orm import Station
from visits.orm import Round, Visit, VisitPost

# Whose values would keep a visitor's personal data past its erasure (the erasure blanks
# these; free text may name people).
PERSONAL = frozenset({"contact_name", "contact_email", "notes", "wishes"})


def _plan_document(document: Any) -> Any:
    """A plan's shape without the names of its people."""
    if not isinstance(document, dict):
        return trail.CHANGED
    return {
        "groups": len(document.get("groups") or ()),
        "slots": len(document.get("slots") or ()),
        "missing": len(document.get("missing") or ()),
        "optimal": document.get("optimal"),
        "engine": document.get("engine"),
    }


def _plan_options(options: Any) -> Any:
    """Staff's choices for a plan, with the number of named people instead of their names."""
    if not isinstance(options, dict):
        return trail.CHANGED
    return {**options, "people": len(options.get("people") or ())}


def _text(values: Values, *names: str) -> str:
    return " ".join(str(values.get(name) or "") for name in names).strip()


def _visit(values: Values) -> str:
    return _text(values, "date", "library", "town")


AUDITED: dict[type[Any], Audited] = {
    Station: Audited("station", lambda v: _text(v, "name"), ignored=frozenset({"status_since"})),
    Round: Audited("round", lambda v: _text(v, "name")),
    Visit: Audited("visit", _visit, hidden=PERSONAL),
    VisitPost: Audited("visit_post", lambda v: f"visit {v.get('visit_id')} {v.get('kind')}"),
    StoredPlan: Audited(
        "plan",
        lambda v: f"visit {v.get('visit_id')}, revision {v.get('revision')}",
        hidden=frozenset({"inputs"}),
        ignored=frozenset({"updated_at"}),
        summaries={"document": _plan_document, "options": _plan_options},
    ),
    Printer: Audited("printer", lambda v: _text(v, "name")),
    PrintFile: Audited("print_file", lambda v: _text(v, "name")),
    PrintJob: Audited(
        "print_job",
        lambda v: f"job {v.get('id')}",
        ignored=frozenset({"updated_at", "created_at", "reason_params"}),
    ),
    User: Audited("user", lambda v: _text(v, "name"), shown=frozenset({"must_change_password"})),
    ApiToken: Audited("api_token", lambda v: f"{_text(v, 'label')} (user {v.get('user_id')})"),
    DisplayToken: Audited("display_link", lambda v: _text(v, "name")),
    Invitation: Audited("invitation", lambda v: f"user {v.get('user_id')}"),
}
TYPE_NAMES = tuple(sorted(spec.type_name for spec in AUDITED.values()))


def install(factory: sessionmaker[Session], actor: trail.Actor | None = None) -> None:
    """Record the changes of ``factory``'s sessions that have an actor (every session of it
    when ``actor`` is given, such as the command line's)."""
    for cls, spec in AUDITED.items():
        trail.register(cls, spec)
    trail.listen(factory)
    if actor is not None:
        trail.act_as(factory, actor)
