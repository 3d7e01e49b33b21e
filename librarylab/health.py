"""Liveness and readiness of the service and every part of it that is switched on.

``status`` is ``ok`` only when all enabled parts work; ``degraded`` names each part that
does not and why (``problems``); ``error`` with 503 when the database is unreachable, since
then nothing works. No address, URL or key ever appears here, nor the body of a printer's
answer (the OctoPrint adapter keeps only a status and a class of reason): the endpoint needs
no login.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from librarylab import __version__
from librarylab.database import is_reachable
from mail import service as mail_service
from mail.model import MailState
from printers.model import DISCONNECTED, ERROR, KEY_SEALED, OFFLINE, STALLED, UNAUTHORIZED

router = APIRouter(prefix="/api", tags=["health"])

# Printer states in which the print corner cannot use a registered printer.
PRINTER_TROUBLE = frozenset({OFFLINE, UNAUTHORIZED, KEY_SEALED, ERROR, DISCONNECTED, STALLED})


@router.get("/health")
def read_health(request: Request) -> JSONResponse:
    """200 ``ok`` or ``degraded``, 503 ``error`` when the database is unreachable; needs no
    login (for monitors)."""
    database_ok = is_reachable(request.app.state.engine)
    mqtt = _mqtt(request)
    printers = _printers(request)
    mail = _mail(request, database_ok)
    problems = _problems(request, database_ok, mqtt, printers)
    if mail["enabled"] and mail["problem"]:
        problems.append({"component": "mail", "detail": mail["problem"]})
    jobs = _periodic_jobs(request)
    if jobs["enabled"]:
        if not jobs["alive"]:
            problems.append(
                {"component": "periodic jobs", "detail": "the minute jobs have stopped"}
            )
        for task, error in jobs["failing"].items():
            problems.append({"component": "periodic jobs", "detail": f"{task} failed: {error}"})
    verdict = "degraded" if problems else "ok"
    if not database_ok:
        verdict = "error"
    body: dict[str, Any] = {
        "status": verdict,
        "version": __version__,
        "database": "ok" if database_ok else "unreachable",
        "mqtt": mqtt,
        "printers": printers,
        "mail": mail,
        "periodic_jobs": jobs,
        "problems": problems,
    }
    return JSONResponse(body, status_code=200 if database_ok else 503)


def _problems(
    request: Request, database_ok: bool, mqtt: dict[str, Any], printers: list[dict[str, Any]]
) -> list[dict[str, str]]:
    """Each enabled part that does not work, with the reason."""
    problems: list[dict[str, str]] = []
    if not database_ok:
        problems.append({"component": "database", "detail": "the database does not answer"})
    if mqtt["enabled"] and not mqtt["connected"]:
        why = mqtt["last_error"] or "not connected yet"
        problems.append({"component": "mqtt", "detail": f"{mqtt['broker']} broker: {why}"})
    state = request.app.state
    hub = getattr(state, "hub", None)
    if hub is not None and not hub.alive:
        problems.append({"component": "wall", "detail": "the wall's clock task has stopped"})
    live = getattr(state, "live", None)
    if live is not None and not live.alive:
        problems.append({"component": "wall", "detail": "the live-state publisher has stopped"})
    for printer in printers:
        if printer["state"] in PRINTER_TROUBLE:
            problems.append(
                {
                    "component": f"printer {printer['id']}",
                    "detail": f"{printer['name']}: {printer['state']} ({printer['detail']})",
                }
            )
    return problems


def _printers(request: Request) -> list[dict[str, Any]]:
    """Each followed printer's state and why (never its address or key)."""
    fleet = getattr(request.app.state, "fleet", None)
    if fleet is None:
        return []
    return [
        {"id": target.id, "name": target.name, "state": snap.state, "detail": snap.detail}
        for target, snap in fleet.states()
    ]


def _mail(request: Request, database_ok: bool) -> dict[str, Any]:
    """The outbox: how many mails wait or failed, and why the SMTP server cannot be used, if
    so (our own words and the reply code: no address, password or server text)."""
    state = request.app.state
    counts: dict[str, int | None] = {"queued": None, "failed": None}
    if database_ok:
        try:
            with state.sessions() as session:
                found = mail_service.counts(session)
            counts = {"queued": found[MailState.QUEUED], "failed": found[MailState.FAILED]}
        except SQLAlchemyError:
            pass
    sender = getattr(state, "mail_sender", None)
    if sender is None:
        return {"enabled": False, **counts}
    problem = sender.problem if sender.alive else "the mail sender has stopped"
    return {"enabled": True, **counts, "problem": problem}


def _periodic_jobs(request: Request) -> dict[str, Any]:
    """The minute jobs (request expiry, visit mail, erasure): running, and which task failed
    in the last round by its error's type (its text may quote a mail)."""
    jobs = getattr(request.app.state, "periodic_jobs", None)
    if jobs is None or not request.app.state.settings.periodic_jobs:
        return {"enabled": False}
    last = jobs.last_round_at
    return {
        "enabled": True,
        "alive": jobs.alive,
        "last_round": last.isoformat() if last else None,
        "failing": dict(jobs.failing),
    }


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
        "last_error": request.app.state.broker_problem or bus.last_error,
        "wall_pages": request.app.state.hub.pages,
        # Too large, not a JSON object, or not fitting their topic's schema (docs/mqtt.md).
        "dropped_messages": bus.dropped + request.app.state.hub.dropped,
    }
