"""The wall page and its live stream (Server-Sent Events), for display links and staff."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from dashboard.hub import Hub
from librarylab.accounts.orm import User
from librarylab.accounts.service import display_token_valid
from librarylab.deps import SessionDep, SettingsDep, optional_user
from librarylab.templating import render

router = APIRouter(include_in_schema=False)
PING_SECONDS = 5


def wall_viewer(
    session: SessionDep,
    user: Annotated[User | None, Depends(optional_user)],
    token: Annotated[str | None, Query()] = None,
) -> str:
    """A valid display link, or a logged-in staff member; returns the token to stream with."""
    if token and display_token_valid(session, token):
        return token
    if user is not None:
        return ""
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="Open the wall with a display link (/wall?token=…) or log in first.",
    )


Viewer = Annotated[str, Depends(wall_viewer)]


@router.get("/wall")
def wall_page(request: Request, settings: SettingsDep, token: Viewer) -> Response:
    return render(
        request,
        "dashboard/wall.html",
        {
            "token": token,
            "heartbeat_max_age": settings.heartbeat_max_age_seconds,
            "lab": settings.lab_name,
        },
    )


@router.get("/wall/events")
async def wall_events(request: Request, _token: Viewer) -> EventSourceResponse:
    """The full state first, then every change; a page that falls behind starts over."""
    hub: Hub = request.app.state.hub
    queue = hub.join()

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            while True:
                name, data = await queue.get()
                if name == "bye":
                    return
                yield ServerSentEvent(data=json.dumps(data, separators=(",", ":")), event=name)
        finally:
            hub.leave(queue)

    return EventSourceResponse(stream(), ping=PING_SECONDS, send_timeout=10)


def wall_status(request: Request) -> dict[str, Any]:
    hub: Hub = request.app.state.hub
    return {"pages": hub.pages, **hub.broker()}
