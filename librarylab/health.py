"""Liveness and readiness of the service and the systems it depends on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from librarylab import __version__
from librarylab.database import is_reachable

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
def read_health(request: Request) -> JSONResponse:
    """200 when the database answers, 503 otherwise; needs no login (for monitors)."""
    database_ok = is_reachable(request.app.state.engine)
    body: dict[str, Any] = {
        "status": "ok" if database_ok else "error",
        "version": __version__,
        "database": "ok" if database_ok else "unreachable",
        "mqtt": _mqtt(request),
        "printers": _printers(request),
    }
    return JSONResponse(body, status_code=200 if database_ok else 503)


def _printers(request: Request) -> list[dict[str, Any]]:
    """Each followed printer's state and why (never its address or key); a printer's trouble
    does not make the service unhealthy."""
    fleet = getattr(request.app.state, "fleet", None)
    if fleet is None:
        return []
    return [
        {"id": target.id, "name": target.name, "state": snap.state, "detail": snap.detail}
        for target, snap in fleet.states()
    ]


def _mqtt(request: Request) -> dict[str, Any]:
    """The bus as the wall sees it; no URL, so no credentials."""
    bus = request.app.state.bus
    if bus is None:
        return {"enabled": False}
    settings = request.app.state.settings
    return {
        "enabled": True,
        "broker": "external" if settings.mqtt_url.get_secret_value() else "embedded",
        "connected": bus.connected,
        "last_error": bus.last_error or request.app.state.broker_problem,
        "wall_pages": request.app.state.hub.pages,
    }
