"""JSON API of the audit trail, for admins."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field

from librarylab.audit import service
from librarylab.audit.audited import TYPE_NAMES
from librarylab.audit.orm import AuditRecord
from librarylab.deps import AdminUser, SessionDep
from librarylab.errors import InvalidInput
from librarylab.schemas import Timestamp

router = APIRouter(prefix="/api", tags=["audit"])

ObjectType = Literal[TYPE_NAMES]  # type: ignore[valid-type]
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _iso_moment(value: Any) -> Any:
    """Only ISO 8601 text: a number in a query would pass as a Unix time."""
    if isinstance(value, str) and _ISO.match(value):
        return value
    raise ValueError('use a datetime with its UTC offset, e.g. "2026-12-03T11:25:00+01:00"')


QueryMoment = Annotated[AwareDatetime, BeforeValidator(_iso_moment)]


class AuditRecordOut(BaseModel):
    """One change of one object."""

    id: int
    at: Timestamp = Field(description="When, in UTC.")
    actor: str = Field(description="The account name; for the command line, the system user.")
    source: Literal["page", "api", "cli", "system"] = Field(description="From where.")
    address: str | None = Field(description="The client's address, for pages and the API.")
    object_type: str = Field(description="What kind of object, e.g. station, print_job.")
    object_id: str
    object_label: str = Field(description="The object's name when the change was made.")
    action: str = Field(
        description="created, changed, deleted, or a staff action: cancelled, retried, "
        "bed_confirmed."
    )
    changes: dict[str, list[Any] | str] = Field(
        description="Each changed field as [before, after]; a secret or personal field as the "
        'word "changed" instead of its values.'
    )

    @classmethod
    def of(cls, record: AuditRecord) -> AuditRecordOut:
        return cls(
            id=record.id,
            at=record.at,
            actor=record.actor,
            source=record.source,
            address=record.address,
            object_type=record.object_type,
            object_id=record.object_id,
            object_label=record.object_label,
            action=record.action,
            changes=record.changes,
        )


class AuditPage(BaseModel):
    """Records newest first; ask for the next page with ``offset=next_offset``."""

    records: list[AuditRecordOut]
    total: int = Field(description="How many records match the filters in all.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="The offset of the next page; null: no more.")


@router.get("/audit")
def read_audit(
    session: SessionDep,
    _admin: AdminUser,
    object_type: Annotated[ObjectType | None, Query(description="e.g. station")] = None,
    object_id: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9-]+$")] = None,
    actor: Annotated[str | None, Query(max_length=80, description="An account name")] = None,
    since: Annotated[
        QueryMoment | None,
        Query(alias="from", description="From this moment on (inclusive), with time zone."),
    ] = None,
    until: Annotated[
        QueryMoment | None,
        Query(alias="to", description="Before this moment (exclusive), with time zone."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = service.DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
) -> AuditPage:
    """The audit trail, filtered by object, person and time (admins only)."""
    if since is not None and until is not None and until <= since:
        raise InvalidInput("'to' must be later than 'from'.", "to")
    filters = service.Filters(object_type, object_id, actor, since, until)
    found = service.search(session, filters, limit=limit, offset=offset)
    following = offset + len(found.records)
    return AuditPage(
        records=[AuditRecordOut.of(record) for record in found.records],
        total=found.total,
        limit=limit,
        offset=offset,
        next_offset=following if following < found.total else None,
    )
