"""JSON shapes of the visits API (a public contract: add fields, never rename)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, StrictBool, StrictInt

from librarylab.schemas import HHMM, Day, PatchModel, StrictModel
from librarylab.settings import Language
from visits.model import (
    MAX_NOTES_LENGTH,
    MAX_PARTICIPANTS,
    MAX_STAFF,
    MAX_STAFF_NAME_LENGTH,
    PostKind,
    VisitStatus,
    is_post_outstanding,
)
from visits.model import Post as DomainPost
from visits.orm import Visit

StaffName = Annotated[str, Field(min_length=1, max_length=MAX_STAFF_NAME_LENGTH)]


class PostIn(StrictModel):
    kind: PostKind
    url: str = Field(default="", max_length=500)
    published: StrictBool = False


class VisitCreate(StrictModel):
    date: Day
    library: str = Field(default="", max_length=200)
    town: str = Field(default="", max_length=120)
    start: HHMM | None = None
    end: HHMM | None = None
    hands_on_start: HHMM | None = None
    hands_on_end: HHMM | None = None
    participants: StrictInt = Field(default=0, ge=0, le=MAX_PARTICIPANTS)
    topic: str = Field(default="", max_length=300)
    contact_name: str = Field(default="", max_length=200)
    contact_email: str = Field(default="", max_length=320)
    status: VisitStatus = VisitStatus.REQUESTED
    round: str | None = Field(default=None, max_length=120)
    posts: list[PostIn] = Field(default_factory=list)
    notes: str = Field(default="", max_length=MAX_NOTES_LENGTH)
    wishes: str = Field(default="", max_length=MAX_NOTES_LENGTH)
    contact_language: Language = "de"
    staff_on_duty: StrictInt | None = Field(
        default=None,
        ge=0,
        le=MAX_STAFF,
        description="staff supervising the hands-on block; null: not limited",
    )
    staff_names: list[StaffName] = Field(default_factory=list, max_length=MAX_STAFF)

    def values(self) -> dict[str, Any]:
        data = super().values()
        for name in ("start", "end"):
            if data[name] is None:  # the service's defaults apply
                del data[name]
        data["posts"] = [DomainPost(p.kind, p.url, p.published) for p in self.posts]
        return data


class VisitPatch(PatchModel):
    nullable: ClassVar[frozenset[str]] = frozenset(
        {"hands_on_start", "hands_on_end", "round", "staff_on_duty"}
    )

    date: Day | None = None
    library: str | None = Field(default=None, max_length=200)
    town: str | None = Field(default=None, max_length=120)
    start: HHMM | None = None
    end: HHMM | None = None
    hands_on_start: HHMM | None = None
    hands_on_end: HHMM | None = None
    participants: StrictInt | None = Field(default=None, ge=0, le=MAX_PARTICIPANTS)
    topic: str | None = Field(default=None, max_length=300)
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    status: VisitStatus | None = None
    round: str | None = Field(default=None, max_length=120)
    posts: list[PostIn] | None = None
    notes: str | None = Field(default=None, max_length=MAX_NOTES_LENGTH)
    wishes: str | None = Field(default=None, max_length=MAX_NOTES_LENGTH)
    contact_language: Language | None = None
    staff_on_duty: StrictInt | None = Field(default=None, ge=0, le=MAX_STAFF)
    staff_names: list[StaffName] | None = Field(default=None, max_length=MAX_STAFF)

    def values(self) -> dict[str, Any]:
        data = super().values()
        if self.posts is not None:
            data["posts"] = [DomainPost(p.kind, p.url, p.published) for p in self.posts]
        return data


class PostOut(StrictModel):
    kind: PostKind
    url: str
    published: bool


class VisitOut(StrictModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    library: str
    town: str
    date: dt.date
    start: HHMM
    end: HHMM
    hands_on_start: HHMM | None
    hands_on_end: HHMM | None
    participants: int
    topic: str
    contact_name: str
    contact_email: str
    status: VisitStatus
    round: str | None
    posts: list[PostOut]
    post_outstanding: bool
    notes: str
    wishes: str
    contact_language: Language
    staff_on_duty: int | None = Field(description="null: not limited")
    staff_names: list[str]

    @classmethod
    def of(cls, visit: Visit) -> VisitOut:
        posts = [DomainPost(p.kind, p.url, p.published) for p in visit.posts]
        return cls(
            id=visit.id,
            library=visit.library,
            town=visit.town,
            date=visit.date,
            start=visit.start,
            end=visit.end,
            hands_on_start=visit.hands_on_start,
            hands_on_end=visit.hands_on_end,
            participants=visit.participants,
            topic=visit.topic,
            contact_name=visit.contact_name,
            contact_email=visit.contact_email,
            status=visit.status,
            round=visit.round.name if visit.round else None,
            posts=[PostOut(kind=p.kind, url=p.url, published=p.published) for p in posts],
            post_outstanding=is_post_outstanding(posts),
            notes=visit.notes,
            wishes=visit.wishes,
            contact_language=visit.contact_language,
            staff_on_duty=visit.staff_on_duty,
            staff_names=list(visit.staff_names or ()),
        )


class RoundOut(StrictModel):
    name: str
    visits: int
