"""Liveness and readiness of the service and the systems it depends on."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from librarylab import __version__
from librarylab.database import is_reachable

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
def read_health(request: Request) -> JSONResponse:
    """200 when the database answers, 503 otherwise; needs no login (for monitors)."""
    database_ok = is_reachable(request.app.state.engine)
    body = {
        "status": "ok" if database_ok else "error",
        "version": __version__,
        "database": "ok" if database_ok else "unreachable",
    }
    return JSONResponse(body, status_code=200 if database_ok else 503)
