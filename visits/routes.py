"""JSON API of visits and rounds, and the iCalendar feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from librarylab.accounts.orm import TokenScope, User
from librarylab.accounts.service import user_for_token
from librarylab.deps import (
    AdminUser,
    CurrentUser,
    SessionDep,
    SettingsDep,
    announce,
    optional_user,
    refuse_until_password_changed,
)
from librarylab.schemas import Day, RecordId
from visits import service
from visits.ical import uid_host, visits_calendar
from visits.schemas import RoundOut, VisitCreate, VisitOut, VisitPatch

router = APIRouter(prefix="/api", tags=["visits"])


@router.get("/visits")
def read_visits(
    session: SessionDep,
    _user: CurrentUser,
    round: Annotated[str | None, Query(description="Only visits of this round")] = None,
    start: Annotated[Day | None, Query(alias="from", description="First day, YYYY-MM-DD")] = None,
    end: Annotated[Day | None, Query(alias="to", description="Last day, YYYY-MM-DD")] = None,
) -> list[VisitOut]:
    visits = service.list_visits(session, round_name=round, start=start, end=end)
    return [VisitOut.of(v) for v in visits]


@router.post("/visits", status_code=status.HTTP_201_CREATED)
def create_visit(
    request: Request, body: VisitCreate, session: SessionDep, _user: CurrentUser
) -> VisitOut:
    visit = service.create_visit(session, body.values())
    session.commit()
    announce(request)
    return VisitOut.of(visit)


def feed_user(
    session: SessionDep,
    user: Annotated[User | None, Depends(optional_user)],
    token: Annotated[
        str | None,
        Query(description="A calendar token (it opens this feed alone), for calendar programs"),
    ] = None,
) -> User:
    """Calendar programs cannot send headers, so the feed also takes ``?token=``: a token
    that opens nothing else, since calendar services store the URL."""
    if token:
        user = user_for_token(session, token, TokenScope.CALENDAR)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Log in, or add ?token=<calendar token> to the feed address "
            "(create one with 'librarylab token create NAME --calendar').",
        )
    return refuse_until_password_changed(user)


@router.get(
    "/visits.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
def read_visits_calendar(
    session: SessionDep,
    settings: SettingsDep,
    _user: Annotated[User, Depends(feed_user)],
    round: str | None = None,
) -> Response:
    body = visits_calendar(
        service.list_visits(session, round_name=round),
        lab_name=settings.lab_name,
        timezone=settings.timezone,
        host=uid_host(settings.public_url),
    )
    return Response(body, media_type="text/calendar; charset=utf-8")


@router.get("/visits/{visit_id}")
def read_visit(visit_id: RecordId, session: SessionDep, _user: CurrentUser) -> VisitOut:
    return VisitOut.of(service.get_visit(session, visit_id))


@router.patch("/visits/{visit_id}")
def update_visit(
    request: Request,
    visit_id: RecordId,
    body: VisitPatch,
    session: SessionDep,
    _user: CurrentUser,
) -> VisitOut:
    before = service.visit_fields(service.get_visit(session, visit_id))
    visit = service.update_visit(session, visit_id, body.values())
    request.app.state.after_visit_update(session, before, visit)  # tells its contact
    session.commit()
    announce(request)
    return VisitOut.of(visit)


@router.delete("/visits/{visit_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_visit(
    request: Request, visit_id: RecordId, session: SessionDep, _user: AdminUser
) -> None:
    service.delete_visit(session, visit_id)
    session.commit()
    announce(request)


@router.get("/rounds")
def read_rounds(session: SessionDep, _user: CurrentUser) -> list[RoundOut]:
    return [RoundOut(name=r.name, visits=len(r.visits)) for r in service.list_rounds(session)]
