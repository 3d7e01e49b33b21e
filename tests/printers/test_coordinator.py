"""Each printer's coordinator is the only caller of its OctoPrint: staff's cancel and retry
are handed to it, and it answers them between two looks; against a real OctoPrint.

The adapter's HTTP session (``requests``, the third-party seam) is watched, or made to hang,
by patching ``requests.Session.request``; nothing of the service itself is replaced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import select

from librarylab.app import create_app
from printers.orm import Printer
from tests.conftest import Lab, _lab, admin_headers, make_settings
from tests.printers.jobs import gcode, job_reaches, printer_reaches, printing, states
from tests.services import OctoPrint, hung_server


@pytest.fixture
def octoprint_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Every request sent to OctoPrint, as (thread name, method, URL)."""
    calls: list[tuple[str, str, str]] = []
    send = requests.Session.request

    def recorded(self: requests.Session, method: str, url: str, *args: Any, **kw: Any) -> Any:
        calls.append((threading.current_thread().name, method, url))
        return send(self, method, url, *args, **kw)

    monkeypatch.setattr(requests.Session, "request", recorded)
    return calls


def test_cancel_and_retry_reach_octoprint_only_from_the_printers_coordinator(
    sqlite_lab: Lab, own_octoprint: OctoPrint, octoprint_calls: list[tuple[str, str, str]]
) -> None:
    lab = sqlite_lab
    printer, job = printing(lab, own_octoprint, gcode(20))
    own_octoprint.api("POST", "/api/connection", json={"command": "disconnect"})
    assert job_reaches(lab, job, "unknown")["state"] == "unknown"
    own_octoprint.api("POST", "/api/connection", json={"command": "connect"})
    assert printer_reaches(lab, printer, "operational")["state"]["state"] == "operational"
    # The retry asks OctoPrint whether it still prints the job: it does not.
    retried = lab.client.post(f"/api/print-jobs/{job}/retry", headers=lab.headers())
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "queued"
    assert lab.client.post(f"/api/printers/{printer}/bed-cleared", headers=lab.headers()).is_success
    assert job_reaches(lab, job, "printing")["state"] == "printing"
    cancelled = lab.client.post(f"/api/print-jobs/{job}/cancel", headers=lab.headers())
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert printer_reaches(lab, printer, "operational")["state"]["state"] == "operational"
    assert own_octoprint.api("GET", "/api/job")["state"] == "Operational"

    assert any(method == "POST" and url.endswith("/api/job") for _t, method, url in octoprint_calls)
    assert {thread for thread, _method, _url in octoprint_calls} == {f"printer-{printer}_0"}


@pytest.fixture
def quick_lab(tmp_path: Path, sqlite_url: str) -> Iterator[Lab]:
    """OctoPrint's requests time out after 1 s: staff wait at most 7 s for a coordinator."""
    yield from _lab(tmp_path, sqlite_url, printer_timeout_seconds=1.0)


def test_a_cancel_the_coordinator_cannot_take_in_time_is_refused_and_changes_nothing(
    quick_lab: Lab, octoprint: OctoPrint, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = quick_lab
    printer, job = printing(lab, octoprint, gcode(30))
    # One request hangs past its timeout (as with a server that trickles its answer): the
    # coordinator is stuck in that look when staff cancel.
    hang, stuck = threading.Event(), threading.Event()
    send = requests.Session.request

    def hanging(self: requests.Session, method: str, url: str, *args: Any, **kw: Any) -> Any:
        if hang.is_set():
            hang.clear()
            stuck.set()
            time.sleep(9)
        return send(self, method, url, *args, **kw)

    monkeypatch.setattr(requests.Session, "request", hanging)
    hang.set()
    assert stuck.wait(5)
    refused = lab.client.post(f"/api/print-jobs/{job}/cancel", headers=lab.headers())
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/unavailable"
    assert refused.json()["detail"] == (
        "Printer Prusa did not get to it within 7 s (OctoPrint may be slow or unreachable); "
        "nothing was changed: try again."
    )
    time.sleep(3)  # the coordinator is free again and has looked: the cancel never ran
    still = job_reaches(lab, job, "printing", timeout=0)
    assert states(still) == ["queued", "uploading", "printing"]
    assert octoprint.api("GET", "/api/job")["state"] == "Printing"
    cancelled = lab.client.post(f"/api/print-jobs/{job}/cancel", headers=lab.headers())
    assert cancelled.status_code == 200, cancelled.text
    assert printer_reaches(lab, printer, "operational")["state"]["state"] == "operational"


def test_rapid_printer_changes_end_with_the_coordinators_of_the_printers_that_exist(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Each printer's looks hang for a second (a server that never answers), so stopping a
    coordinator takes a while: changes arrive while the fleet is still busy with earlier ones."""
    app = create_app(make_settings(tmp_path, sqlite_url, printer_timeout_seconds=1.0))
    with hung_server() as url, TestClient(app) as client:
        headers = admin_headers(app)

        def register(name: str) -> int:
            body = {"name": name, "url": url, "api_key": "k"}
            created = client.post("/api/printers", headers=headers, json=body)
            assert created.status_code == 201, created.text
            return int(created.json()["id"])

        kept = register("Kept")
        for round_ in range(4):
            printer = register(f"Prusa {round_}")
            time.sleep(0.5)  # its coordinator is in its first look
            renamed = client.patch(
                f"/api/printers/{printer}", headers=headers, json={"name": f"Renamed {round_}"}
            )
            assert renamed.status_code == 200, renamed.text
            assert client.delete(f"/api/printers/{printer}", headers=headers).status_code == 204
        time.sleep(3)  # every stop has ended: a look takes at most a second
        with app.state.sessions() as session:
            existing = sorted(session.scalars(select(Printer.id)))
        followed = sorted(target.id for target, _snapshot in app.state.fleet.states())
        assert existing == [kept]
        assert followed == existing
