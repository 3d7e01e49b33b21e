"""The stored rotation plan of a visit (one per visit), kept as a JSON document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from librarylab.database import Base, UtcDateTime


class StoredPlan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), unique=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)  # what staff asked for
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # the plan as the API shows it
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)  # stations and visit as planned for
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
