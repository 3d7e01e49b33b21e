"""Tables of rounds, visits and the visitors' posts."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, Time, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from librarylab.database import Base, UtcDateTime, str_enum
from visits.model import PostKind, VisitStatus


class Round(Base):
    """A planning round such as "Coworking round 2"."""

    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)

    visits: Mapped[list[Visit]] = relationship(back_populates="round")


class Visit(Base):
    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int | None] = mapped_column(
        ForeignKey("rounds.id", ondelete="SET NULL"), index=True
    )
    library: Mapped[str] = mapped_column(String(200), default="")
    town: Mapped[str] = mapped_column(String(120), default="")
    date: Mapped[date] = mapped_column(Date, index=True)
    start: Mapped[time] = mapped_column(Time)
    end: Mapped[time] = mapped_column(Time)
    hands_on_start: Mapped[time | None] = mapped_column(Time)
    hands_on_end: Mapped[time | None] = mapped_column(Time)
    participants: Mapped[int] = mapped_column(Integer, default=0)
    topic: Mapped[str] = mapped_column(String(300), default="")
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(320), default="")
    status: Mapped[VisitStatus] = mapped_column(str_enum(VisitStatus))
    notes: Mapped[str] = mapped_column(Text, default="")
    wishes: Mapped[str] = mapped_column(Text, default="")  # the library's individual wishes
    contact_language: Mapped[str] = mapped_column(String(8), default="de")  # of its mail
    # Keys the personal link where the library enters its post (see booking); a new
    # nonce invalidates the old link.
    post_link_nonce: Mapped[str | None] = mapped_column(String(32))
    contact_erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Staff on duty during the hands-on block: how many (None: not limited) and who.
    staff_on_duty: Mapped[int | None] = mapped_column(Integer)
    staff_names: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))

    round: Mapped[Round | None] = relationship(back_populates="visits", lazy="joined")
    posts: Mapped[list[VisitPost]] = relationship(
        back_populates="visit",
        cascade="all, delete-orphan",
        order_by="VisitPost.id",
        lazy="selectin",
    )


class VisitPost(Base):
    __tablename__ = "visit_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    kind: Mapped[PostKind] = mapped_column(str_enum(PostKind))
    url: Mapped[str] = mapped_column(String(500), default="")
    published: Mapped[bool] = mapped_column(Boolean, default=False)

    visit: Mapped[Visit] = relationship(back_populates="posts")
