"""Nothing lost, nothing printed twice: cancels, firmware errors, a killed OctoPrint, a
restarted service, a stalled print — each against a real OctoPrint with its Virtual Printer.

OctoPrint's own per-file print statistics (``prints.success`` / ``prints.failure``) are the
independent witness of how often a job's file was really printed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from librarylab import database
from librarylab.app import create_app
from printers import queue
from printers.octoprint import OctoPrintClient
from printers.orm import Printer
from tests.conftest import Lab, _lab, make_settings
from tests.printers.jobs import (
    add_printer,
    gcode,
    job_reaches,
    printer_reaches,
    printing,
    queue_job,
    ready_printer,
    states,
    upload_file,
)
from tests.services import OctoPrint


def test_cancel_stops_the_print_and_the_next_job_waits_for_the_bed(
    sqlite_lab: Lab, octoprint: OctoPrint
) -> None:
    lab = sqlite_lab
    printer = ready_printer(lab, octoprint)
    long_print = upload_file(lab.client, lab.headers(), gcode(20), "long")
    first = queue_job(lab, long_print, printer)
    second = queue_job(lab, long_print, printer)
    assert job_reaches(lab, first, "printing")["state"] == "printing"
    busy = lab.client.delete(f"/api/printers/{printer}", headers=lab.headers("admin"))
    assert busy.status_code == 409
    assert busy.json()["detail"] == f"The printer is busy with job {first}; cancel the job first."
    # Cancelling a queued job never reaches the printer.
    third = queue_job(lab, long_print, printer)
    assert lab.client.post(f"/api/print-jobs/{third}/cancel", headers=lab.headers()).is_success
    cancelled = lab.client.post(f"/api/print-jobs/{first}/cancel", headers=lab.headers())
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert printer_reaches(lab, printer, "operational")["bed_clear"] is False
    assert octoprint.api("GET", "/api/job")["state"] == "Operational"
    time.sleep(3)  # several looks at the printer: the bed may hold half a print
    assert job_reaches(lab, second, "uploading", timeout=0)["state"] == "queued"
    again = lab.client.post(f"/api/print-jobs/{first}/cancel", headers=lab.headers())
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]
    lab.client.post(f"/api/printers/{printer}/bed-cleared", headers=lab.headers())
    assert job_reaches(lab, second, "printing")["state"] == "printing"
    lab.client.post(f"/api/print-jobs/{second}/cancel", headers=lab.headers())
    third_job = lab.client.get(f"/api/print-jobs/{third}", headers=lab.headers()).json()
    assert states(third_job) == ["queued", "cancelled"]


def test_a_firmware_error_fails_the_job_and_nothing_restarts_by_itself(
    sqlite_lab: Lab, own_octoprint: OctoPrint
) -> None:
    lab = sqlite_lab
    printer, job = printing(lab, own_octoprint, gcode(20))
    own_octoprint.send("!!DEBUG:trigger_fatal_error_marlin")
    failed = job_reaches(lab, job, "failed")
    assert failed["state"] == "failed"
    assert failed["reason"].startswith("printer error:")
    shown = lab.client.get(f"/api/printers/{printer}", headers=lab.headers()).json()
    assert shown["state"]["state"] == "error"
    assert shown["state"]["detail"]
    # The printer comes back; the failed job stays failed and the bed is not trusted.
    own_octoprint.api("POST", "/api/connection", json={"command": "connect"})
    assert printer_reaches(lab, printer, "operational")["bed_clear"] is False
    time.sleep(3)
    assert job_reaches(lab, job, "failed", timeout=0)["state"] == "failed"
    assert own_octoprint.api("GET", "/api/job")["state"] == "Operational"
    # Staff retry: it waits for the bed, then prints once more.
    retried = lab.client.post(f"/api/print-jobs/{job}/retry", headers=lab.headers())
    assert retried.json()["state"] == "queued"
    lab.client.post(f"/api/printers/{printer}/bed-cleared", headers=lab.headers())
    assert job_reaches(lab, job, "printing")["state"] == "printing"


def test_a_paused_print_started_by_hand_keeps_the_bed_unconfirmed(
    sqlite_lab: Lab, own_octoprint: OctoPrint, tmp_path: Path
) -> None:
    lab = sqlite_lab
    printer = add_printer(lab, own_octoprint)
    assert printer_reaches(lab, printer, "operational")["state"]["state"] == "operational"
    by_hand = tmp_path / "by-hand.gcode"
    by_hand.write_bytes(gcode(20))
    client = OctoPrintClient(own_octoprint.url, own_octoprint.api_key)
    client.upload(by_hand, "by-hand.gcode")
    client.start("by-hand.gcode")  # someone at the printer, not the service
    own_octoprint.api("POST", "/api/job", json={"command": "pause", "action": "pause"})
    assert printer_reaches(lab, printer, "paused")["state"]["state"] == "paused"
    bed = lab.client.post(f"/api/printers/{printer}/bed-cleared", headers=lab.headers())
    assert bed.status_code == 409  # a paused print is still on the bed
    assert bed.json()["detail"].startswith("The printer is printing")


def test_a_printer_disconnected_mid_print_leaves_the_job_unclear(
    sqlite_lab: Lab, own_octoprint: OctoPrint
) -> None:
    lab = sqlite_lab
    _printer, job = printing(lab, own_octoprint, gcode(20))
    own_octoprint.api("POST", "/api/connection", json={"command": "disconnect"})
    unclear = job_reaches(lab, job, "unknown")
    assert unclear["reason"].startswith("OctoPrint is not connected to the printer")
    assert "failed" not in states(unclear)


def test_octoprint_killed_mid_print_leaves_the_job_unknown_never_finished(
    sqlite_lab: Lab, own_octoprint: OctoPrint
) -> None:
    lab = sqlite_lab
    printer, job = printing(lab, own_octoprint, gcode(20))
    own_octoprint.kill()
    lost = job_reaches(lab, job, "unknown", timeout=15)
    assert lost["state"] == "unknown"
    assert lost["reason"].startswith("lost contact with OctoPrint")
    assert printer_reaches(lab, printer, "offline")["state"]["state"] == "offline"
    # While OctoPrint is silent nobody knows whether it still prints: no retry, no bed.
    retry = lab.client.post(f"/api/print-jobs/{job}/retry", headers=lab.headers())
    assert retry.status_code == 409
    assert "does not answer" in retry.json()["detail"]
    own_octoprint.start()
    assert printer_reaches(lab, printer, "operational")["state"]["state"] == "operational"
    time.sleep(3)
    after = lab.client.get(f"/api/print-jobs/{job}", headers=lab.headers()).json()
    assert after["state"] == "unknown"
    assert "finished" not in states(after)
    remote = own_octoprint.api("GET", "/api/job")
    assert remote["state"] == "Operational"
    assert own_octoprint.prints_of(after["remote_name"]).get("success", 0) == 0
    # Staff take over: the bed waits until the unclear job is settled; a retry prints it anew.
    bed = lab.client.post(f"/api/printers/{printer}/bed-cleared", headers=lab.headers())
    assert bed.status_code == 409
    assert f"Job {job} is unclear" in bed.json()["detail"]
    assert lab.client.post(f"/api/print-jobs/{job}/retry", headers=lab.headers()).is_success
    assert lab.client.post(f"/api/printers/{printer}/bed-cleared", headers=lab.headers()).is_success
    again = job_reaches(lab, job, "printing")
    assert again["remote_name"] != after["remote_name"]  # a new attempt, under a new name


def test_a_service_restarted_mid_print_follows_the_job_and_prints_nothing_twice(
    tmp_path: Path, sqlite_url: str, octoprint: OctoPrint
) -> None:
    first_run = _lab(tmp_path, sqlite_url)
    lab = next(first_run)
    _printer, job = printing(lab, octoprint, gcode(6))
    token = lab.headers()
    with pytest.raises(StopIteration):
        next(first_run)  # the service stops; OctoPrint keeps printing
    assert octoprint.api("GET", "/api/job")["state"] == "Printing"

    app = create_app(make_settings(tmp_path, sqlite_url))
    with TestClient(app) as client:
        restarted = Lab(client, app.state.engine, app.state.sessions, "", "")
        restarted.headers = lambda role="staff": token  # type: ignore[method-assign]
        followed = job_reaches(restarted, job, "awaiting_bed_clear")
    assert followed["state"] == "awaiting_bed_clear"
    assert states(followed).count("uploading") == 1
    assert states(followed).count("printing") == 1
    assert octoprint.prints_of(followed["remote_name"]) | {"last": None} == {
        "success": 1,
        "failure": 0,
        "last": None,
    }


def test_a_job_left_uploading_by_a_stopped_service_becomes_unknown(
    tmp_path: Path, sqlite_url: str, octoprint: OctoPrint
) -> None:
    """The service died after storing "uploading" and before OctoPrint printed anything:
    after the restart the job waits for staff and is not sent again."""
    runs = _lab(tmp_path, sqlite_url)
    lab = next(runs)
    printer = add_printer(lab, octoprint)
    file_id = upload_file(lab.client, lab.headers(), gcode(1), "boat")
    token = lab.headers()
    with pytest.raises(StopIteration):
        next(runs)
    sessions = database.make_session_factory(database.make_engine(sqlite_url))
    with database.transaction(sessions) as session:
        job = queue.create_job(session, {"file_id": file_id, "printer_id": printer})
        stored = session.get(Printer, printer)
        assert stored is not None
        stored.bed_clear = True
        session.flush()
        assert queue.claim_next(session, stored) is not None  # claimed, never sent
        job_id = job.id
    app = create_app(make_settings(tmp_path, sqlite_url))
    with TestClient(app) as client:
        again = Lab(client, app.state.engine, app.state.sessions, "", "")
        again.headers = lambda role="staff": token  # type: ignore[method-assign]
        settled = job_reaches(again, job_id, "unknown")
    assert settled["state"] == "unknown"
    assert "stopped while sending" in settled["reason"]
    assert states(settled) == ["queued", "uploading", "unknown"]
    assert octoprint.prints_of(settled["remote_name"]) == {}  # OctoPrint never got the file


@pytest.fixture
def quick_stall_lab(tmp_path: Path, sqlite_url: str) -> Iterator[Lab]:
    yield from _lab(tmp_path, sqlite_url, printer_stall_after_seconds=2)


def test_a_stalled_print_is_detected(quick_stall_lab: Lab, own_octoprint: OctoPrint) -> None:
    lab = quick_stall_lab
    printer, _job = printing(lab, own_octoprint, gcode(30))
    own_octoprint.send("!!DEBUG:go_awol")
    stalled = printer_reaches(lab, printer, "stalled", timeout=15)
    assert stalled["state"]["state"] == "stalled"
    assert stalled["state"]["detail"].startswith("no progress for")
    assert own_octoprint.api("GET", "/api/job")["state"] == "Printing"  # OctoPrint does not see it


def test_a_job_waits_for_its_not_before_time(sqlite_lab: Lab, octoprint: OctoPrint) -> None:
    lab = sqlite_lab
    printer = ready_printer(lab, octoprint)
    file_id = upload_file(lab.client, lab.headers(), gcode(1), "boat")
    start = datetime.now(UTC) + timedelta(seconds=4)
    job = queue_job(lab, file_id, printer, not_before=start.isoformat())
    printed = job_reaches(lab, job, "awaiting_bed_clear")
    sent = next(e for e in printed["history"] if e["to"] == "uploading")
    assert datetime.fromisoformat(sent["at"]) >= start
    assert datetime.fromisoformat(sent["at"]) - start < timedelta(seconds=5)
