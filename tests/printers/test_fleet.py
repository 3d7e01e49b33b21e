"""A print corner that follows many printers: each printer's step holds one database
connection, a printer that stops answering is said offline when its silence reaches the
threshold (not when its requests time out), and a key sealed under another secret key is
said as such. Against a real OctoPrint; the adapter's HTTP session (``requests``, the
third-party seam) is made to hang only where OctoPrint cannot be made to.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import event
from sqlalchemy.pool import ConnectionPoolEntry

from librarylab import database
from librarylab.crypto import SecretBox
from printers.model import KEY_SEALED_DETAIL
from printers.orm import Printer
from tests.conftest import STAFF_PASSWORD, Lab, _lab
from tests.pages import login, text_of
from tests.printers.jobs import gcode, job_reaches, printer_reaches, printing
from tests.services import OctoPrint


@pytest.fixture
def octoprint_urls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL the service sends a request to."""
    urls: list[str] = []
    send = requests.Session.request

    def recorded(self: requests.Session, method: str, url: str, *args: Any, **kw: Any) -> Any:
        urls.append(url)
        return send(self, method, url, *args, **kw)

    monkeypatch.setattr(requests.Session, "request", recorded)
    return urls


@pytest.fixture
def restored_lab(tmp_path: Path, database_url: str, octoprint: OctoPrint) -> Iterator[Lab]:
    """A service whose one printer's key was sealed under another secret key (a backup
    restored with another LIBRARYLAB_SECRET_KEY), on SQLite and on PostgreSQL."""
    engine = database.make_engine(database_url)
    with database.transaction(database.make_session_factory(engine)) as session:
        session.add(
            Printer(
                name="Prusa",
                url=octoprint.url,
                api_key_sealed=SecretBox("the secret key of another site").seal(octoprint.api_key),
                bed_clear=True,
            )
        )
    engine.dispose()
    yield from _lab(tmp_path, database_url)


def test_a_key_sealed_under_another_secret_key_is_said_so_until_it_is_entered_again(
    restored_lab: Lab, octoprint: OctoPrint, octoprint_urls: list[str]
) -> None:
    lab = restored_lab
    shown = printer_reaches(lab, 1, "key_sealed")["state"]
    assert shown["state"] == "key_sealed"
    assert shown["detail"] == KEY_SEALED_DETAIL
    health = lab.client.get("/api/health").json()
    assert "key_sealed" in str(health)
    assert not [url for url in octoprint_urls if url.startswith(octoprint.url)]

    login(lab.client, "sam", STAFF_PASSWORD)
    german = text_of(lab.client.get("/printers"))
    assert "API-Schlüssel neu eingeben" in german
    assert "mit einem anderen geheimen Schlüssel (LIBRARYLAB_SECRET_KEY) versiegelt" in german
    english = text_of(lab.client.get("/printers?lang=en"))
    assert "API key must be entered again" in english
    assert "sealed under another secret key (LIBRARYLAB_SECRET_KEY)" in english
    assert "API key refused" not in english

    entered = lab.client.patch(
        "/api/printers/1", headers=lab.headers("admin"), json={"api_key": octoprint.api_key}
    )
    assert entered.status_code == 200, entered.text
    assert printer_reaches(lab, 1, "operational")["state"]["state"] == "operational"


@pytest.fixture
def patient_lab(tmp_path: Path, sqlite_url: str) -> Iterator[Lab]:
    """Requests to OctoPrint may take 60 s; silence of 2 s makes a printer offline."""
    yield from _lab(
        tmp_path, sqlite_url, printer_timeout_seconds=60.0, printer_offline_after_seconds=2.0
    )


def test_a_hung_octoprint_is_offline_when_its_silence_reaches_the_threshold(
    patient_lab: Lab, octoprint: OctoPrint, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = patient_lab
    created = lab.client.post(
        "/api/printers",
        headers=lab.headers("admin"),
        json={"name": "Prusa", "url": octoprint.url, "api_key": octoprint.api_key},
    )
    printer = created.json()["id"]
    assert printer_reaches(lab, printer, "operational")["state"]["state"] == "operational"
    # From now on OctoPrint's answers hang until released, far past the 2 s threshold and
    # within the 60 s timeout: only the threshold can make the printer offline meanwhile.
    hang, release = threading.Event(), threading.Event()
    hung: list[str] = []
    send = requests.Session.request

    def hanging(self: requests.Session, method: str, url: str, *args: Any, **kw: Any) -> Any:
        if hang.is_set() and url.startswith(octoprint.url):
            hung.append(url)
            release.wait(90)
        return send(self, method, url, *args, **kw)

    monkeypatch.setattr(requests.Session, "request", hanging)
    hang.set()
    try:
        offline = printer_reaches(lab, printer, "offline")["state"]
        assert offline["state"] == "offline"
        assert offline["detail"] == "OctoPrint does not answer"
        assert hung  # a look was hanging when the printer was said offline
    finally:
        hang.clear()
        release.set()
    assert printer_reaches(lab, printer, "operational")["state"]["state"] == "operational"


def test_a_printer_step_holds_one_database_connection_at_a_time(
    lab: Lab, octoprint: OctoPrint
) -> None:
    """The step's lock (PostgreSQL) and its work share one pooled connection: a fleet of
    printers takes one connection per printer out of the pool at most, not two."""
    held: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    owner: dict[int, str] = {}
    lock = threading.Lock()

    def out(_dbapi: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        name = threading.current_thread().name
        with lock:
            owner[id(record)] = name
            held[name] += 1
            peak[name] = max(peak[name], held[name])

    def back(_dbapi: Any, record: ConnectionPoolEntry) -> None:
        with lock:
            held[owner.pop(id(record), "")] -= 1

    event.listen(lab.engine.pool, "checkout", out)
    event.listen(lab.engine.pool, "checkin", back)
    try:
        _printer, job = printing(lab, octoprint, gcode(1))
        assert job_reaches(lab, job, "awaiting_bed_clear")["state"] == "awaiting_bed_clear"
    finally:
        event.remove(lab.engine.pool, "checkout", out)
        event.remove(lab.engine.pool, "checkin", back)
    stepped = {name: most for name, most in peak.items() if name.startswith("printer-")}
    assert stepped  # the printer's steps did use the database
    assert set(stepped.values()) == {1}
