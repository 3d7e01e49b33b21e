"""The stations table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from librarylab.database import Base, UtcDateTime, str_enum
from stations.model import Kind, Status


class Station(Base):
    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[Kind] = mapped_column(str_enum(Kind))
    capacity: Mapped[int] = mapped_column(Integer)
    # People who can be at it together, taking turns; None: just ``capacity``.
    max_group: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    needs_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[Status] = mapped_column(
        str_enum(Status),
        default=Status.AVAILABLE,
    )
    status_reason: Mapped[str] = mapped_column(String(200), default="")
    status_since: Mapped[datetime] = mapped_column(UtcDateTime())
    notes: Mapped[str] = mapped_column(Text, default="")
