"""The wall page and its live stream (Server-Sent Events), for display links and staff."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from dashboard.hub import Hub
from librarylab.accounts.service import display_token_valid
from librarylab.deps import SettingsDep, login_user, refuse_until_password_changed
from librarylab.templating import render

router = APIRouter(include_in_schema=False)
PING_SECONDS = 5
# An open stream asks again this often whether its link or login still holds, so that a
# revocation made on another instance (or on the CLI) closes it too.
RECHECK_SECONDS = 5.0


def _viewer(request: Request, token: str | None) -> str | None:
    """The display token to stream with ("" for a logged-in staff member), or None.

    Uses a session of its own and closes it at once: a wall's stream stays open for hours
    and must not hold a database connection all that time.
    """
    with request.app.state.sessions() as session:
        if token and display_token_valid(session, token):
            return token
        user = login_user(request, session)
        if user is not None:
            refuse_until_password_changed(user)
            return ""
    return None


def wall_viewer(request: Request, token: Annotated[str | None, Query()] = None) -> str:
    """A valid display link, or a logged-in staff member; returns the token to stream with."""
    viewer = _viewer(request, token)
    if viewer is not None:
        return viewer
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
async def wall_events(request: Request, token: Viewer) -> EventSourceResponse:
    """The full state first, then every change; a page that falls behind starts over.

    A stream whose display link is revoked (or whose staff login ended) gets a ``revoked``
    event and is closed: the wall then says so instead of showing data for ever.
    """
    hub: Hub = request.app.state.hub
    queue = hub.join()

    async def allowed() -> bool:
        try:
            return await run_in_threadpool(_viewer, request, token or None) is not None
        except HTTPException:  # the account must choose a new password first
            return False

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            while True:
                try:
                    name, data = await asyncio.wait_for(queue.get(), RECHECK_SECONDS)
                except TimeoutError:
                    name, data = "recheck", None
                if name == "bye":
                    return
                if name == "recheck":
                    if not await allowed():
                        yield ServerSentEvent(data="{}", event="revoked")
                        return
                    continue
                yield ServerSentEvent(data=json.dumps(data, separators=(",", ":")), event=name)
        finally:
            hub.leave(queue)

    return EventSourceResponse(stream(), ping=PING_SECONDS, send_timeout=10)
