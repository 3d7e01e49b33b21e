"""Tables of visit requests, the marks of mail already sent about a visit, and the log of
actions on personal data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.model import RequestState
from librarylab.database import Base, UtcDateTime, str_enum
from visits.orm import Visit


class VisitRequest(Base):
    """A library's request for a visit: a named free date, or none (a wish)."""

    __tablename__ = "visit_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[RequestState] = mapped_column(str_enum(RequestState), index=True)
    # The free date asked for (None: no date fits), and after acceptance the visit.
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("visits.id", ondelete="SET NULL"), index=True
    )
    library: Mapped[str] = mapped_column(String(200))
    town: Mapped[str] = mapped_column(String(120), default="")
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(320), default="", index=True)
    participants: Mapped[int] = mapped_column(Integer)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    wishes: Mapped[str] = mapped_column(Text, default="")
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(8))
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # SHA-256 of the opt-in link's secret: the link itself is only in the mail.
    opt_in_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by: Mapped[str] = mapped_column(String(80), default="")
    decline_message: Mapped[str] = mapped_column(Text, default="")
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    visit: Mapped[Visit | None] = relationship(lazy="joined")


class VisitMail(Base):
    """A mail about a visit that has been queued once for an occasion, such as the reminder
    for a date: the unique key lets only one instance queue it."""

    __tablename__ = "visit_mails"
    __table_args__ = (UniqueConstraint("visit_id", "kind", "occasion"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    occasion: Mapped[str] = mapped_column(String(40), default="")
    mail_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_mails.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PersonalDataAction(Base):
    """One export or erasure of personal data: who, when, what, and for which address (as a
    keyed digest, so the log itself keeps no address)."""

    __tablename__ = "personal_data_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(16))  # export, erase, expire
    actor: Mapped[str] = mapped_column(String(80))  # a staff name, or "system"
    subject_digest: Mapped[str] = mapped_column(String(64), default="")
    records: Mapped[int] = mapped_column(Integer, default=0)
