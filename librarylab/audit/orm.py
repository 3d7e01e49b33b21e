"""The table of the audit trail: one row per changed object per change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from librarylab.database import Base, UtcDateTime


class AuditRecord(Base):
    """One change of one object: ``changes`` maps each changed field to ``[before, after]``;
    a secret field holds the word ``"changed"`` instead of its values."""

    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_records_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(80), index=True)  # account name, or "system"
    source: Mapped[str] = mapped_column(String(16))  # page, api, cli, system
    address: Mapped[str | None] = mapped_column(String(64), default=None)  # client address
    object_type: Mapped[str] = mapped_column(String(40))  # station, visit, plan, printer, ...
    object_id: Mapped[str] = mapped_column(String(64))
    object_label: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(24))  # created, changed, deleted, or a verb
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
