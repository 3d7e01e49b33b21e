"""Reading the audit trail, and forgetting what is older than the retention period."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from librarylab.audit.orm import AuditRecord
from librarylab.settings import Settings

log = logging.getLogger(__name__)

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Filters:
    """What an admin looks for; ``None`` (or empty) matches everything. ``since`` is
    inclusive, ``until`` exclusive."""

    object_type: str | None = None
    object_id: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Found:
    records: Sequence[AuditRecord]
    total: int


def search(
    session: Session, filters: Filters, *, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> Found:
    """The matching records, newest first, and how many match in all."""
    conditions = []
    if filters.object_type:
        conditions.append(AuditRecord.object_type == filters.object_type)
    if filters.object_id:
        conditions.append(AuditRecord.object_id == filters.object_id)
    if filters.actor:
        conditions.append(AuditRecord.actor == filters.actor)
    if filters.since is not None:
        conditions.append(AuditRecord.at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditRecord.at < filters.until)
    total = session.scalar(select(func.count()).select_from(AuditRecord).where(*conditions))
    records = session.scalars(
        select(AuditRecord)
        .where(*conditions)
        .order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return Found(records, int(total or 0))


def actors(session: Session) -> list[str]:
    """Everyone who appears in the trail, for the filter's choices."""
    return list(session.scalars(select(AuditRecord.actor).distinct().order_by(AuditRecord.actor)))


def purge_expired(session: Session, now: datetime, settings: Settings) -> int:
    """Delete records older than ``audit_retention_days`` (none when it is 0); how many.
    Idempotent: every instance's periodic jobs may run it."""
    days = settings.audit_retention_days
    if days <= 0:
        return 0
    cutoff = now.astimezone(UTC) - timedelta(days=days)
    result = session.execute(delete(AuditRecord).where(AuditRecord.at < cutoff))
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if count:
        log.info("%d audit records older than %d days deleted", count, days)
    return count
