"""The recorder of the audit trail.

Changes made through the ORM are recorded by a session's ``after_flush`` hook, in the same
transaction as the change (a rollback takes its record along). Only a session that carries
an :class:`Actor` records: requests of staff (set where the user is resolved), the command
line; the printer poller, the dispatcher and periodic jobs carry none, so the state the
service follows by itself does not flood the trail. Changes made by bulk ``UPDATE``
statements bypass the hook: their code calls :func:`record`, and staff actions that run in
a session of their own (the dispatcher's) are wrapped in :func:`watched`.

Secret fields (a name with secret, digest, password, key, hash, nonce, or listed as secret)
and personal fields are recorded as the word ``"changed"``, never with their values.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Mapper, Session, UOWTransaction, sessionmaker

from librarylab.audit.orm import AuditRecord

SOURCES = ("page", "api", "cli", "system")
CHANGED = "changed"  # what a secret or personal field's change is recorded as
SECRET_WORDS = ("secret", "digest", "password", "key", "hash", "nonce", "sealed")
MAX_TEXT = 500  # longer texts are cut; the trail is not a backup
MAX_JSON = 500  # longer JSON values are summarised by their size and digest
INFO_KEY = "audit_actor"

Values = Mapping[str, Any]


@dataclass(frozen=True)
class Actor:
    """Who changes something, and from where (``address`` for HTTP requests)."""

    name: str
    source: str
    address: str | None = None


@dataclass(frozen=True)
class Audited:
    """How one ORM class is recorded: its type name, a label from its column values, the
    fields whose values are never kept (secret or personal), fields not worth a record
    (bookkeeping such as ``updated_at``), and summaries of large fields."""

    type_name: str
    label: Callable[[Values], str]
    hidden: frozenset[str] = frozenset()
    ignored: frozenset[str] = frozenset()
    summaries: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    shown: frozenset[str] = frozenset()  # named like a secret, yet none (a flag)

    def is_hidden(self, name: str) -> bool:
        if name in self.shown:
            return False
        lowered = name.lower()
        return name in self.hidden or any(word in lowered for word in SECRET_WORDS)


_REGISTRY: dict[type[Any], Audited] = {}


def register(cls: type[Any], audited: Audited) -> None:
    _REGISTRY[cls] = audited


def audited(cls: type[Any]) -> Audited | None:
    return _REGISTRY.get(cls)


def registered() -> Mapping[type[Any], Audited]:
    return dict(_REGISTRY)


def act_as(target: Session | sessionmaker[Session], actor: Actor | None) -> None:
    """Let ``target`` (a session, or every session of a factory) record as ``actor``."""
    if isinstance(target, Session):
        if actor is None:
            target.info.pop(INFO_KEY, None)
        else:
            target.info[INFO_KEY] = actor
        return
    info = dict(target.kw.get("info") or {})
    if actor is None:
        info.pop(INFO_KEY, None)
    else:
        info[INFO_KEY] = actor
    target.configure(info=info)


def actor_of(session: Session) -> Actor | None:
    actor = session.info.get(INFO_KEY)
    return actor if isinstance(actor, Actor) else None


def listen(factory: sessionmaker[Session]) -> None:
    """Record the changes of every session of ``factory`` that has an actor."""
    if not event.contains(factory, "after_flush", _after_flush):
        event.listen(factory, "after_flush", _after_flush)


# --- turning values into JSON ------------------------------------------------------------


def plain(value: Any) -> Any:
    """A value as JSON can hold it; long texts are cut, large structures summarised."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, dict | list | tuple):
        text = json.dumps(value, default=str, sort_keys=True)
        if len(text) <= MAX_JSON:
            return json.loads(text)
        return summary(text)
    return plain(str(value))


def summary(text: str) -> str:
    """A large value in a few characters: its size and the start of its digest (enough to
    tell whether two records saw the same value)."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{len(text)} characters, sha256 {digest}…"


def _diff(spec: Audited, before: Values | None, after: Values | None) -> dict[str, Any]:
    """``{field: [before, after]}`` for the fields that differ; hidden ones as ``"changed"``."""
    changes: dict[str, Any] = {}
    names = list((after or before or {}).keys())
    for name in names:
        if name in spec.ignored:
            continue
        old = None if before is None else before.get(name)
        new = None if after is None else after.get(name)
        if old == new:
            continue
        if spec.is_hidden(name):
            changes[name] = CHANGED
            continue
        shorten = spec.summaries.get(name)
        if shorten is not None:
            old = None if old is None else shorten(old)
            new = None if new is None else shorten(new)
        old, new = plain(old), plain(new)
        if old != new:
            changes[name] = [old, new]
    return changes


def _row(
    actor: Actor,
    spec: Audited,
    object_id: str,
    values: Values,
    action: str,
    changes: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    try:
        label = spec.label(values)
    except Exception:  # a label is a courtesy; a missing value must not stop the change
        label = ""
    return {
        "at": now,
        "actor": actor.name[:80],
        "source": actor.source,
        "address": (actor.address or None) and actor.address[:64],
        "object_type": spec.type_name,
        "object_id": object_id[:64],
        "object_label": label[:200],
        "action": action[:24],
        "changes": changes,
    }


# --- recording ORM changes ----------------------------------------------------------------


def _columns(mapper: Mapper[Any]) -> list[str]:
    return [attr.key for attr in mapper.column_attrs]


def _identity(mapper: Mapper[Any], obj: Any) -> str:
    return "-".join(str(part) for part in mapper.primary_key_from_instance(obj))


def _filled(values: Values) -> dict[str, Any]:
    """The fields that hold something, for the record of a new or deleted object."""
    return {name: value for name, value in values.items() if value is not None and value != ""}


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    actor = actor_of(session)
    if actor is None:
        return
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if (spec := audited(type(obj))) is not None:
            mapper = inspect(obj).mapper
            after = {name: getattr(obj, name, None) for name in _columns(mapper)}
            changes = _diff(spec, None, _filled(after))
            rows.append(_row(actor, spec, _identity(mapper, obj), after, "created", changes, now))
    for obj in session.dirty:
        if (spec := audited(type(obj))) is not None:
            state = inspect(obj)
            before: dict[str, Any] = {}
            after = {}
            for name in _columns(state.mapper):
                history = state.attrs[name].history
                current = state.dict.get(name)
                after[name] = current
                if history.has_changes():
                    before[name] = history.deleted[0] if history.deleted else None
                    after[name] = history.added[0] if history.added else None
                else:
                    before[name] = current
            changes = _diff(spec, before, after)
            if changes:
                rows.append(
                    _row(
                        actor,
                        spec,
                        _identity(state.mapper, obj),
                        after,
                        "changed",
                        changes,
                        now,
                    )
                )
    for obj in session.deleted:
        if (spec := audited(type(obj))) is not None:
            state = inspect(obj)
            last = {name: state.dict.get(name) for name in _columns(state.mapper)}
            changes = _diff(spec, _filled(last), None)
            rows.append(
                _row(actor, spec, _identity(state.mapper, obj), last, "deleted", changes, now)
            )
    if rows:
        session.connection().execute(insert(AuditRecord), rows)


# --- explicit records ---------------------------------------------------------------------


def record(
    session: Session,
    obj: Any,
    action: str,
    changes: Mapping[str, tuple[Any, Any]],
    *,
    at: datetime | None = None,
) -> None:
    """Record a change the flush hook cannot see (a bulk ``UPDATE``): ``changes`` maps each
    field to ``(before, after)``. Does nothing for a session without an actor or an object
    of a class that is not audited."""
    actor = actor_of(session)
    spec = audited(type(obj))
    if actor is None or spec is None:
        return
    mapper = inspect(type(obj))
    values = {name: inspect(obj).dict.get(name) for name in _columns(mapper)}
    before = {name: pair[0] for name, pair in changes.items()}
    after = {name: pair[1] for name, pair in changes.items()}
    found = _diff(spec, before, after)
    if found:
        row = _row(
            actor, spec, _identity(mapper, obj), values, action, found, at or datetime.now(UTC)
        )
        session.connection().execute(insert(AuditRecord), [row])


def _stored(session: Session, cls: type[Any], object_id: int) -> dict[str, Any] | None:
    """The row as the database holds it now, by column attribute (bypassing the session's
    identity map, which may hold an older copy)."""
    mapper = inspect(cls)
    attrs = list(mapper.column_attrs)
    primary = mapper.primary_key[0]
    found = session.execute(
        select(*(attr.columns[0] for attr in attrs)).where(primary == object_id)
    ).first()
    if found is None:
        return None
    return {attr.key: value for attr, value in zip(attrs, found, strict=True)}


@contextmanager
def watched(session: Session, cls: type[Any], object_id: int, action: str) -> Iterator[None]:
    """Record what the block did to one row, for staff actions that change it in sessions of
    their own (the dispatcher's): the row is read before and after, the record is written in
    ``session`` (the request's, which has the actor) and committed. Nothing is recorded when
    the block raises."""
    spec = audited(cls)
    actor = actor_of(session)
    before = _stored(session, cls, object_id) if spec and actor else None
    yield
    if spec is None or actor is None:
        return
    after = _stored(session, cls, object_id)
    values = after or before
    if values is None:
        return
    if after is None:
        action = "deleted"
        before = _filled(before or {})
    changes = _diff(spec, before, after)
    if not changes and after is not None:
        return
    row = _row(actor, spec, str(object_id), values, action, changes, datetime.now(UTC))
    session.execute(insert(AuditRecord), [row])
    session.commit()
