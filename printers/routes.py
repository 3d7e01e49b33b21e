"""JSON API of the printer registry, with each printer's live state."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from librarylab.audit.trail import watched
from librarylab.crypto import SecretBox
from librarylab.deps import AdminUser, CurrentUser, SessionDep
from librarylab.schemas import RecordId
from librarylab.settings import Settings
from printers import service
from printers.coordinator import Fleet
from printers.dispatcher import Dispatcher
from printers.orm import Printer
from printers.schemas import PrinterCreate, PrinterOut, PrinterPatch, printer_out

router = APIRouter(prefix="/api/printers", tags=["printers"])


def _box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _fleet(request: Request) -> Fleet:
    fleet: Fleet = request.app.state.fleet
    return fleet


def _changed(request: Request) -> None:
    request.app.state.printers_changed()


@router.get("")
def read_printers(request: Request, session: SessionDep, _user: CurrentUser) -> list[PrinterOut]:
    fleet = _fleet(request)
    return [printer_out(p, fleet.snapshot(p.id)) for p in service.list_printers(session)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_printer(
    request: Request, body: PrinterCreate, session: SessionDep, _user: AdminUser
) -> PrinterOut:
    printer = service.create_printer(
        session, _box(request), body.values(), _settings(request).printer_network_list
    )
    session.commit()
    _changed(request)
    return printer_out(printer, None)


@router.get("/{printer_id}")
def read_printer(
    request: Request, printer_id: RecordId, session: SessionDep, _user: CurrentUser
) -> PrinterOut:
    printer = service.get_printer(session, printer_id)
    return printer_out(printer, _fleet(request).snapshot(printer.id))


@router.patch("/{printer_id}")
def update_printer(
    request: Request,
    printer_id: RecordId,
    body: PrinterPatch,
    session: SessionDep,
    _user: AdminUser,
) -> PrinterOut:
    printer = service.update_printer(
        session,
        _box(request),
        printer_id,
        body.values(),
        _settings(request).printer_network_list,
    )
    session.commit()
    _changed(request)
    return printer_out(printer, _fleet(request).snapshot(printer.id))


@router.delete("/{printer_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_printer(
    request: Request, printer_id: RecordId, session: SessionDep, _user: AdminUser
) -> None:
    """Refused while something of a job may be on the printer; jobs waiting for it are
    cancelled."""
    dispatcher: Dispatcher = request.app.state.dispatcher
    with watched(session, Printer, printer_id, "deleted"):
        dispatcher.delete_printer(printer_id)
    _changed(request)
