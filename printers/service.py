"""Printer registry use cases. Functions take a session and plain values, and never commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from librarylab.crypto import SecretBox
from librarylab.errors import Conflict, InvalidInput, NotFound, reject_unknown_fields
from printers import networks as nets
from printers.coordinator import Target
from printers.jobs import ACTIVE
from printers.orm import Printer, PrintJob
from stations.model import Kind
from stations.orm import Station

EDITABLE = ("name", "url", "api_key", "station_id")


def list_printers(session: Session) -> Sequence[Printer]:
    return session.scalars(select(Printer).order_by(Printer.name)).all()


def get_printer(session: Session, printer_id: int) -> Printer:
    printer = session.get(Printer, printer_id)
    if printer is None:
        raise NotFound(
            "There is no printer with id {id}; GET /api/printers lists them.", id=printer_id
        )
    return printer


def create_printer(
    session: Session,
    box: SecretBox,
    values: Mapping[str, Any],
    networks: Sequence[nets.Network] = (),
) -> Printer:
    if not values.get("api_key"):
        raise InvalidInput("Give the printer's OctoPrint API key.", "api_key")
    printer = Printer()
    _apply(session, box, printer, values, networks)
    session.add(printer)
    session.flush()
    return printer


def update_printer(
    session: Session,
    box: SecretBox,
    printer_id: int,
    changes: Mapping[str, Any],
    networks: Sequence[nets.Network] = (),
) -> Printer:
    printer = get_printer(session, printer_id)
    reject_unknown_fields(changes, EDITABLE)
    _apply(session, box, printer, changes, networks)
    session.flush()
    return printer


def active_job(session: Session, printer_id: int) -> PrintJob | None:
    """The job the printer is being sent or printing, if any."""
    return session.scalars(
        select(PrintJob).where(
            PrintJob.assigned_printer_id == printer_id, PrintJob.state.in_(ACTIVE)
        )
    ).first()


def _apply(
    session: Session,
    box: SecretBox,
    printer: Printer,
    values: Mapping[str, Any],
    networks: Sequence[nets.Network],
) -> None:
    """Check everything first, so a refused change leaves the printer as it was."""
    name = str(values.get("name", printer.name) or "").strip()
    url = str(values.get("url", printer.url) or "").strip().rstrip("/")
    station_id = values.get("station_id", printer.station_id)
    if not name:
        raise InvalidInput("The printer needs a name.", "name")
    check_address(url)
    if printer.id is not None and url != printer.url and not values.get("api_key"):
        # The stored key belongs to the old address: it is never sent to a new one unasked.
        raise InvalidInput(
            "A new address needs the printer's API key again: send api_key with the url.",
            "api_key",
        )
    if networks and url != printer.url:
        check_networks(url, networks)
    clash = select(Printer.id).where(func.lower(Printer.name) == name.lower())
    if printer.id is not None:
        clash = clash.where(Printer.id != printer.id)
    if session.scalar(clash) is not None:
        raise Conflict("A printer named '{name}' already exists.", "name", name=name)
    if station_id is not None:
        check_printing_station(session, station_id)
    printer.name, printer.url, printer.station_id = name, url, station_id
    if values.get("api_key"):
        printer.api_key_sealed = box.seal(str(values["api_key"]))


def check_address(url: str) -> None:
    """OctoPrint's address: scheme, host and port only. A query or fragment would be dropped
    by the client without a word, and credentials in it would travel to wherever it points."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number
    except ValueError:
        parts = urlsplit("")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "Give OctoPrint's address without user:password@; OctoPrint takes only its API "
            "key (api_key).",
            "url",
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise InvalidInput(
            "Give OctoPrint's address without ?query or #fragment, as http(s)://host[:port].",
            "url",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise InvalidInput(
            "Give OctoPrint's address as http(s)://host[:port], e.g. http://192.168.1.20:5000.",
            "url",
        )


def check_networks(url: str, networks: Sequence[nets.Network]) -> None:
    """Every address the host resolves to now is in one of ``networks``; each connection
    is checked again (``printers.octoprint``)."""
    host = urlsplit(url).hostname or ""
    try:
        found = nets.addresses(host)
    except OSError:
        raise InvalidInput(
            "The printer's host {host} cannot be resolved, so it cannot be checked against "
            "LIBRARYLAB_PRINTER_NETWORKS; give its IP address or a name that resolves.",
            "url",
            host=host,
        ) from None
    outside = [address for address in found if not nets.allowed(address, networks)]
    if outside:
        raise InvalidInput(
            "The printer's address {address} is outside LIBRARYLAB_PRINTER_NETWORKS "
            "({networks}); give an address in those networks, or extend the setting.",
            "url",
            address=outside[0],
            networks=", ".join(str(n) for n in networks),
        )


def check_printing_station(session: Session, station_id: int) -> None:
    """Printers and print jobs belong to 3D-printing stations only."""
    station = session.get(Station, station_id)
    if station is None or station.kind is not Kind.PRINTING:
        raise InvalidInput(
            "Station {id} is not a 3D-printing station; GET /api/stations lists them.",
            "station_id",
            id=station_id,
        )


def targets(session: Session, box: SecretBox) -> list[Target]:
    """Every registered printer as its coordinator needs it (keys unsealed, in memory only;
    None for a key sealed under another secret key)."""
    found = []
    for printer in list_printers(session):
        key = box.open(printer.api_key_sealed)
        found.append(Target(printer.id, printer.name, printer.url, key))
    return found
