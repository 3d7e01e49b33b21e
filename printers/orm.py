"""Printers, demo files and print jobs; the API key is stored sealed, never in plain text."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from librarylab.database import Base, UtcDateTime, str_enum
from printers.jobs import JobState


class Printer(Base):
    __tablename__ = "printers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    url: Mapped[str] = mapped_column(String(300))
    api_key_sealed: Mapped[str] = mapped_column(Text)
    station_id: Mapped[int | None] = mapped_column(
        ForeignKey("stations.id", ondelete="SET NULL"), index=True
    )
    # Confirmed by staff; cleared when a job is claimed. Also the claim's lock: a job is only
    # sent after flipping it from true to false in one UPDATE.
    bed_clear: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PrintFile(Base):
    """A demo G-code file; its content lives in the data folder as ``print-files/<id>.gcode``."""

    __tablename__ = "print_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    estimated_seconds: Mapped[int | None] = mapped_column(Integer)
    has_picture: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PrintJob(Base):
    """One print: a file for a printer, or for any printer of a station."""

    __tablename__ = "print_jobs"
    __table_args__ = (Index("ix_print_jobs_state_not_before", "state", "not_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("print_files.id"), index=True)
    printer_id: Mapped[int | None] = mapped_column(ForeignKey("printers.id", ondelete="SET NULL"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id", ondelete="SET NULL"))
    assigned_printer_id: Mapped[int | None] = mapped_column(
        ForeignKey("printers.id", ondelete="SET NULL"), index=True
    )
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("visits.id", ondelete="SET NULL"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(Integer)
    group_name: Mapped[str | None] = mapped_column(String(40))  # as the plan and wall call it
    slot_index: Mapped[int | None] = mapped_column(Integer)
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime | None] = mapped_column(UtcDateTime())
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[JobState] = mapped_column(str_enum(JobState, 20), default=JobState.QUEUED)
    reason: Mapped[str] = mapped_column(String(300), default="")  # why(): an English template
    reason_params: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    remote_name: Mapped[str | None] = mapped_column(String(80))  # of the current attempt
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    file: Mapped[PrintFile] = relationship(lazy="joined")
    history: Mapped[list[JobEvent]] = relationship(
        order_by="JobEvent.id", cascade="all, delete-orphan", lazy="selectin"
    )


class JobEvent(Base):
    """One transition of a job, stored in the same transaction as the new state."""

    __tablename__ = "print_job_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("print_jobs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    from_state: Mapped[JobState | None] = mapped_column(str_enum(JobState, 20))
    to_state: Mapped[JobState] = mapped_column(str_enum(JobState, 20))
    reason: Mapped[str] = mapped_column(String(300))
    reason_params: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
