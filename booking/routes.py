"""Staff JSON API of the visit-request inbox (the public form's POST lives in the intake)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from booking import inbox
from booking.model import RequestState
from booking.schemas import AcceptIn, DeclineIn, VisitRequestOut
from librarylab.deps import CurrentUser, SessionDep, SettingsDep, announce
from librarylab.schemas import RecordId

router = APIRouter(prefix="/api/visit-requests", tags=["visit requests"])

DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No request (or picked date) with this id."},
    409: {
        "description": "The request is not confirmed (decided already, or not confirmed by "
        "mail), or the date is no longer free. Nothing changed."
    },
}


@router.get("", summary="List visit requests (staff)")
def read_visit_requests(
    session: SessionDep, _user: CurrentUser, state: RequestState | None = None
) -> list[VisitRequestOut]:
    """The requests (of ``state``), newest first."""
    return [VisitRequestOut.of(r) for r in inbox.list_requests(session, state)]


@router.get(
    "/{request_id}", summary="Read a visit request", responses={404: DECISION_RESPONSES[404]}
)
def read_visit_request(
    request_id: RecordId, session: SessionDep, _user: CurrentUser
) -> VisitRequestOut:
    """One request with its contact and wishes, as the inbox shows it."""
    return VisitRequestOut.of(inbox.get_request(session, request_id))


@router.post("/{request_id}/accept", summary="Accept a visit request", responses=DECISION_RESPONSES)
def accept_visit_request(
    request: Request,
    request_id: RecordId,
    body: AcceptIn,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> VisitRequestOut:
    """Turn a confirmed request into a confirmed visit and mail the contact an invitation.

    Without a body the visit goes on the date the request named; ``visit_id`` picks a
    free date instead, ``date`` with ``start`` and ``end`` creates one."""
    accepted = inbox.accept(
        session, request_id, body.values(), user.name, datetime.now(UTC), settings
    )
    session.commit()
    announce(request)
    return VisitRequestOut.of(accepted)


@router.post(
    "/{request_id}/decline", summary="Decline a visit request", responses=DECISION_RESPONSES
)
def decline_visit_request(
    request: Request,
    request_id: RecordId,
    body: DeclineIn,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> VisitRequestOut:
    """Decline a confirmed request (mailing the optional message); its date is free again."""
    declined = inbox.decline(
        session, request_id, body.message, user.name, datetime.now(UTC), settings
    )
    session.commit()
    announce(request)
    return VisitRequestOut.of(declined)
