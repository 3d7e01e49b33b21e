"""JSON shapes of the staff inbox of visit requests (a public contract: add fields, never
rename)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field, StrictInt

from booking.model import MAX_LENGTHS, RequestState
from booking.orm import VisitRequest
from librarylab.schemas import HHMM, Day, OutModel, StrictModel, Timestamp


class VisitRequestOut(OutModel):
    """A library's request as staff see it; the opt-in secret never leaves the server."""

    id: int
    state: RequestState = Field(
        description="new (mail not confirmed yet), confirmed (by mail: waiting for staff), "
        "accepted, declined, expired (never confirmed)."
    )
    library: str
    town: str
    contact_name: str
    contact_email: str
    participants: int
    topics: list[str] = Field(description="The library's topic wishes.")
    wishes: str
    channels: list[str] = Field(description="Where the library offers to post: blog, …")
    language: str = Field(description="The contact's language for mail: de or en.")
    visit_id: int | None = Field(
        description="The date asked for, or after acceptance the visit; null: no date."
    )
    date: dt.date | None = Field(description="The day of that visit, or null.")
    created_at: Timestamp
    confirmed_at: Timestamp | None
    decided_at: Timestamp | None
    decided_by: str = Field(description='The staff member who decided; "" until then.')
    decline_message: str

    @classmethod
    def of(cls, request: VisitRequest) -> VisitRequestOut:
        return cls(
            id=request.id,
            state=request.state,
            library=request.library,
            town=request.town,
            contact_name=request.contact_name,
            contact_email=request.contact_email,
            participants=request.participants,
            topics=list(request.topics or []),
            wishes=request.wishes,
            channels=list(request.channels or []),
            language=request.language,
            visit_id=request.visit_id,
            date=request.visit.date if request.visit is not None else None,
            created_at=request.created_at,
            confirmed_at=request.confirmed_at,
            decided_at=request.decided_at,
            decided_by=request.decided_by,
            decline_message=request.decline_message,
        )


class AcceptIn(StrictModel):
    """Accept onto the request's own date (send nothing), a free date (``visit_id``), or a
    new date (``date``, ``start``, ``end``, optional hands-on block and round)."""

    visit_id: StrictInt | None = Field(
        default=None, ge=1, le=2_147_483_647, description="A free date to put the visit on."
    )
    date: Day | None = Field(default=None, description="A new date, YYYY-MM-DD.")
    start: HHMM | None = None
    end: HHMM | None = None
    hands_on_start: HHMM | None = None
    hands_on_end: HHMM | None = None
    round: str | None = Field(default=None, max_length=120)
    topic: str | None = Field(
        default=None,
        max_length=300,
        description="The visit's topic; default: the request's topic wishes, joined.",
    )

    def values(self) -> dict[str, Any]:
        """Only what was sent."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class DeclineIn(StrictModel):
    message: str = Field(
        default="",
        max_length=MAX_LENGTHS["decline_message"],
        description="A few words to the library, quoted in the mail.",
    )
